import { errorText } from "../../app/errorText";
import { useI18n } from "../../i18n/I18nProvider";

/** A panel's loading or error line; nothing once its data is there. */
export function Status({ pending, error }: { pending: boolean; error: unknown }) {
  const { t } = useI18n();
  if (error) {
    return (
      <p className="notice notice--error" role="alert">
        {errorText(error, t)}
      </p>
    );
  }
  if (pending) {
    return (
      <p className="page-status" role="status">
        {t("app.loading")}
      </p>
    );
  }
  return null;
}
