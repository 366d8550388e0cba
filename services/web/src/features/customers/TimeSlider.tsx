import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from "react";

import { useI18n } from "../../i18n/I18nProvider";
import { localInputValue } from "./history";

/** Positions of the slider between the customer's first fact (0) and now (STEPS). */
export const STEPS = 200;
/** How long the slider rests before the page follows it (dragging asks for no page per pixel). */
export const SETTLE_MS = 350;
const PAGE = 20;

interface Props {
  /** The customer's first fact (its registration), ISO. */
  from: string;
  /** The moment shown, ISO; null: now. */
  asOf: string | null;
  /** Show another moment (null: now); `exact` when typed rather than slid to. */
  onChange(asOf: string | null, exact?: boolean): void;
}

/** A time slider from the customer's first fact to now (keyboard: arrows, Page Up/Down, Home,
 * End), and a field for an exact moment. */
export function TimeSlider({ from, asOf, onChange }: Props) {
  const { t, dateTime } = useI18n();
  const id = useId();
  const [now] = useState(() => Date.now());
  // A moment's text may carry microseconds, which a Date drops: one millisecond on, the
  // registration itself is inside the first position's moment.
  const start = Math.min(Date.parse(from) + 1, now);
  const span = Math.max(now - start, 1);
  const momentAt = (position: number): string | null =>
    position >= STEPS ? null : new Date(start + (span * position) / STEPS).toISOString();
  const positionOf = (moment: string | null): number => {
    if (moment === null) return STEPS;
    const ms = Date.parse(moment);
    return Math.min(STEPS, Math.max(0, Math.round(((ms - start) / span) * STEPS)));
  };
  const shown = positionOf(asOf);
  const [position, setPosition] = useState(shown);
  const [exact, setExact] = useState(() => localInputValue(asOf));
  const timer = useRef<number | undefined>(undefined);

  useEffect(() => {
    // Another moment was chosen (or this one arrived): a slide still settling is dropped.
    window.clearTimeout(timer.current);
    setPosition(shown);
    setExact(localInputValue(asOf));
  }, [shown, asOf]);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  const move = (next: number) => {
    const to = Math.min(STEPS, Math.max(0, next));
    setPosition(to);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => onChange(momentAt(to)), SETTLE_MS);
  };

  const keys: Record<string, (p: number) => number> = {
    ArrowLeft: (p) => p - 1,
    ArrowDown: (p) => p - 1,
    ArrowRight: (p) => p + 1,
    ArrowUp: (p) => p + 1,
    PageDown: (p) => p - PAGE,
    PageUp: (p) => p + PAGE,
    Home: () => 0,
    End: () => STEPS,
  };
  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    const step = keys[event.key];
    if (!step) return;
    event.preventDefault();
    move(step(position));
  };

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const ms = new Date(exact).getTime();
    if (Number.isNaN(ms)) return;
    window.clearTimeout(timer.current);
    onChange(ms >= Date.now() ? null : new Date(ms).toISOString(), true);
  };

  const atPosition = position === shown && asOf !== null ? asOf : momentAt(position);
  const valueText = atPosition === null ? t("asof.now") : dateTime(atPosition);
  return (
    <section aria-labelledby={`${id}-title`} className="panel asof">
      <h2 id={`${id}-title`} className="subhead">
        {t("asof.title")}
      </h2>
      <div className="asof__slider">
        <label htmlFor={`${id}-slider`}>{t("asof.slider")}</label>
        <input
          id={`${id}-slider`}
          type="range"
          min={0}
          max={STEPS}
          step={1}
          value={position}
          aria-valuetext={valueText}
          aria-describedby={`${id}-ends`}
          onChange={(event) => move(Number(event.target.value))}
          onKeyDown={onKeyDown}
        />
        <span className="asof__value" aria-hidden="true">
          {valueText}
        </span>
        <p id={`${id}-ends`} className="muted">
          {t("asof.ends", { first: dateTime(from) })}
        </p>
      </div>
      <form className="asof__exact" onSubmit={submit}>
        <label htmlFor={`${id}-exact`}>{t("asof.exact")}</label>
        <input
          id={`${id}-exact`}
          type="datetime-local"
          value={exact}
          onChange={(event) => setExact(event.target.value)}
        />
        <button type="submit" disabled={exact === ""}>
          {t("asof.show")}
        </button>
      </form>
    </section>
  );
}
