import { Link } from "react-router";

import { useI18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";

/** A page of the navigation that later work fills in. */
export function PlaceholderPage({ title }: { title: MessageKey }) {
  const { t } = useI18n();
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">{t(title)}</h1>
      <p>{t("placeholder.soon")}</p>
    </section>
  );
}

export function NotFoundPage() {
  const { t } = useI18n();
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">{t("notFound.title")}</h1>
      <p>
        <Link to="/my-day">{t("notFound.back")}</Link>
      </p>
    </section>
  );
}
