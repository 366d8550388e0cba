import { NavLink, Navigate, Route, Routes, useOutletContext } from "react-router";

import type { Me } from "../../api/session";
import { NotAllowed as AppNotAllowed } from "../../app/Allowed";
import { useI18n } from "../../i18n/I18nProvider";
import { sectionsFor } from "./access";
import { KeysPage } from "./KeysPage";
import { ReadModelsPage } from "./ReadModelsPage";
import { RulesPage } from "./RulesPage";
import { UsersPage } from "./UsersPage";

/** The Admin area: the rules editor, accounts, API keys and read models, each part shown to
 * whoever may use it; anyone else is told plainly that it is not theirs. */
export function AdminRoutes() {
  const me = useOutletContext<Me>();
  const { t } = useI18n();
  const sections = sectionsFor(me);
  if (sections.length === 0) return <NotAllowed />;
  const allowed = new Set(sections.map((section) => section.path));
  const first = sections[0]!.path;
  return (
    <section aria-labelledby="page-title" className="admin">
      <h1 id="page-title">{t("admin.title")}</h1>
      <nav aria-label={t("admin.sections")} className="admin__nav">
        <ul>
          {sections.map((section) => (
            <li key={section.path}>
              <NavLink to={`/admin/${section.path}`}>{t(section.label)}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Routes>
        <Route index element={<Navigate to={`/admin/${first}`} replace />} />
        <Route path="rules" element={allowed.has("rules") ? <RulesPage /> : <NotAllowed inner />} />
        <Route path="users" element={allowed.has("users") ? <UsersPage /> : <NotAllowed inner />} />
        <Route path="keys" element={allowed.has("keys") ? <KeysPage /> : <NotAllowed inner />} />
        <Route
          path="read-models"
          element={allowed.has("read-models") ? <ReadModelsPage /> : <NotAllowed inner />}
        />
        <Route path="*" element={<Navigate to={`/admin/${first}`} replace />} />
      </Routes>
    </section>
  );
}

export function NotAllowed({ inner = false }: { inner?: boolean }) {
  return <AppNotAllowed inner={inner} title="admin.notAllowed.title" body="admin.notAllowed.body" />;
}
