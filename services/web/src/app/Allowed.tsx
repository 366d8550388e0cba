import type { ReactNode } from "react";
import { useOutletContext } from "react-router";

import type { Me } from "../api/session";
import { may } from "../features/admin/access";
import { useI18n } from "../i18n/I18nProvider";
import type { MessageKey } from "../i18n/messages";

/** A page for those whose role includes `action`; anyone else reached it by its address and
 * is told so, instead of seeing the API's refusals. */
export function Allowed({ action, children }: { action: string; children: ReactNode }) {
  const me = useOutletContext<Me>();
  if (may(me, action)) return <>{children}</>;
  return <NotAllowed />;
}

/** "Not allowed", as a page (`inner`: a part of a page, under its own heading). */
export function NotAllowed({
  inner = false,
  title = "app.notAllowed.title",
  body = "app.notAllowed.body",
}: {
  inner?: boolean;
  title?: MessageKey;
  body?: MessageKey;
}) {
  const { t } = useI18n();
  const Heading = inner ? "h2" : "h1";
  const id = inner ? "not-allowed-title" : "page-title";
  return (
    <section aria-labelledby={id} className="not-allowed">
      <Heading id={id}>{t(title)}</Heading>
      <p>{t(body)}</p>
    </section>
  );
}
