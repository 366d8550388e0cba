import { ApiError, NETWORK_ERROR } from "../api/errors";
import type { I18n } from "../i18n/I18nProvider";

/** What to tell the user about a failed request, in their language. The API's own message
 * (English) is shown where it says more than a status would: a refused rule, a bad value. */
export function errorText(error: unknown, t: I18n["t"]): string {
  if (!(error instanceof ApiError)) return t("error.unexpected", { code: "client" });
  if (error.code === NETWORK_ERROR) return t("error.network");
  if (error.status === 401) return t("error.sessionEnded");
  if (error.status === 403 && error.code !== "csrf_failed") return t("error.forbidden");
  if (error.status >= 500) return t("error.unexpected", { code: error.code });
  return t("error.fromServer", { message: error.message });
}
