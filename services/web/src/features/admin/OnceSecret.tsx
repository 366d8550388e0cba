import { useState } from "react";

import { useI18n } from "../../i18n/I18nProvider";

/** A secret shown this once (a generated password, an API key), with a copy button. */
export function OnceSecret({ label, secret, onDismiss }: { label: string; secret: string; onDismiss(): void }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState<"yes" | "no" | null>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("yes");
    } catch {
      setCopied("no");
    }
  }

  return (
    <div className="notice notice--warning once-secret" role="region" aria-label={label}>
      <p>
        <strong>{label}</strong> {t("admin.secret.once")}
      </p>
      <p>
        <code className="once-secret__value" data-testid="once-secret">
          {secret}
        </code>
      </p>
      <div className="form-actions">
        <button type="button" onClick={() => void copy()}>
          {t("admin.secret.copy")}
        </button>
        <button type="button" className="button--secondary" onClick={onDismiss}>
          {t("admin.secret.done")}
        </button>
      </div>
      <p role="status" className="live-status">
        {copied === "yes" ? t("admin.secret.copied") : copied === "no" ? t("admin.secret.copyFailed") : ""}
      </p>
    </div>
  );
}
