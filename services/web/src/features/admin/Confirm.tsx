import { useEffect, useRef } from "react";

import { useI18n } from "../../i18n/I18nProvider";

/** An inline "are you sure?" with the focus on its safe choice; Escape cancels. */
export function Confirm({
  question,
  confirmLabel,
  busy,
  onConfirm,
  onCancel,
}: {
  question: string;
  confirmLabel: string;
  busy?: boolean;
  onConfirm(): void;
  onCancel(): void;
}) {
  const { t } = useI18n();
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div
      role="group"
      aria-label={question}
      className="confirm"
      onKeyDown={(event) => {
        if (event.key === "Escape") onCancel();
      }}
    >
      <span>{question}</span>{" "}
      <button type="button" className="button--danger" onClick={onConfirm} disabled={busy}>
        {confirmLabel}
      </button>{" "}
      <button type="button" ref={cancel} className="button--secondary" onClick={onCancel}>
        {t("admin.cancel")}
      </button>
    </div>
  );
}
