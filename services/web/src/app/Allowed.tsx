import type { ReactNode } from "react";
import { useOutletContext } from "react-router";

import type { Me } from "../api/session";
import { may } from "../features/admin/access";
import { useI18n } from "../i18n/I18nProvider";

/** A page for those whose role includes `action`; anyone else reached it by its address and
 * is told so, instead of seeing the API's refusals. */
export function Allowed({ action, children }: { action: string; children: ReactNode }) {
  const me = useOutletContext<Me>();
  const { t } = useI18n();
  if (may(me, action)) return <>{children}</>;
  return (
    <section aria-labelledby="page-title" className="not-allowed">
      <h1 id="page-title">{t("app.notAllowed.title")}</h1>
      <p>{t("app.notAllowed.body")}</p>
    </section>
  );
}
