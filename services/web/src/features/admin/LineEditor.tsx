import { forwardRef, useId, useImperativeHandle, useRef, useState, type UIEvent } from "react";

import { useI18n } from "../../i18n/I18nProvider";

export interface Problem {
  line: number | null;
  path: string;
  reason: string;
}

export interface LineEditorHandle {
  /** Put the caret at the start of `line` (1-based), select it, and focus the text. */
  goToLine(line: number): void;
}

/** Where each line of `text` starts (offsets), for moving to a line. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i += 1) if (text[i] === "\n") starts.push(i + 1);
  return starts;
}

/** A text area with line numbers beside it; lines with a problem are marked in the gutter. */
export const LineEditor = forwardRef<
  LineEditorHandle,
  {
    label: string;
    value: string;
    onChange(value: string): void;
    problems: readonly Problem[];
    describedBy?: string;
    readOnly?: boolean;
  }
>(function LineEditor({ label, value, onChange, problems, describedBy, readOnly = false }, ref) {
  const { t } = useI18n();
  const id = useId();
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const lines = value.split("\n").length;
  const marked = new Set(problems.map((p) => p.line).filter((line): line is number => line !== null));

  useImperativeHandle(ref, () => ({
    goToLine(line: number) {
      const element = area.current;
      if (!element) return;
      const starts = lineStarts(element.value);
      const index = Math.min(Math.max(line, 1), starts.length) - 1;
      const start = starts[index] ?? 0;
      const next = starts[index + 1];
      const end = next === undefined ? element.value.length : next - 1;
      element.focus();
      element.setSelectionRange(start, end);
      const lineHeight = element.scrollHeight / Math.max(starts.length, 1);
      element.scrollTop = Math.max(0, lineHeight * index - element.clientHeight / 2);
    },
  }));

  function scrolled(event: UIEvent<HTMLTextAreaElement>) {
    setScrollTop(event.currentTarget.scrollTop);
  }

  return (
    <div className="line-editor">
      <label htmlFor={id} className="line-editor__label">
        {label}
      </label>
      <div className="line-editor__frame">
        <div className="line-editor__gutter" ref={gutter} aria-hidden="true">
          <div style={{ transform: `translateY(${-scrollTop}px)` }}>
            {Array.from({ length: lines }, (_, i) => i + 1).map((line) => (
              <div
                key={line}
                className={marked.has(line) ? "line-editor__number line-editor__number--problem" : "line-editor__number"}
                data-line={line}
                data-problem={marked.has(line) ? "true" : undefined}
                title={marked.has(line) ? t("admin.rules.problemAtLine", { line }) : undefined}
              >
                {marked.has(line) ? "! " : ""}
                {line}
              </div>
            ))}
          </div>
        </div>
        <textarea
          id={id}
          ref={area}
          className="line-editor__text"
          value={value}
          onChange={(event) => onChange(event.target.value)}
          onScroll={scrolled}
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          wrap="off"
          rows={Math.min(Math.max(lines + 1, 12), 30)}
          aria-invalid={problems.length > 0 ? true : undefined}
          aria-describedby={describedBy}
          readOnly={readOnly}
        />
      </div>
    </div>
  );
});
