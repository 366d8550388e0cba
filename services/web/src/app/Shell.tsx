import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { NavLink, Navigate, Outlet, useLocation, useNavigate } from "react-router";

import { signOut, type Me } from "../api/session";
import { useI18n } from "../i18n/I18nProvider";
import type { MessageKey } from "../i18n/messages";
import { canSeeAdmin, may } from "../features/admin/access";
import { useApi } from "./ApiProvider";
import { errorText } from "./errorText";
import { LanguageSwitch } from "./LanguageSwitch";
import { LiveIndicator, LiveProvider, useLive } from "./LiveUpdates";
import { ME_QUERY, useMe } from "./session";

export const PAGES: ReadonlyArray<{ path: string; label: MessageKey; shownTo?: (me: Me) => boolean }> = [
  { path: "/my-day", label: "nav.myDay" },
  { path: "/customers", label: "nav.customers", shownTo: (me) => may(me, "customers.read") },
  { path: "/pipeline", label: "nav.pipeline", shownTo: (me) => may(me, "leads.read") },
  { path: "/tickets", label: "nav.tickets", shownTo: (me) => may(me, "customers.read") },
  { path: "/alerts", label: "nav.alerts", shownTo: (me) => may(me, "alerts.read") },
  { path: "/dashboards", label: "nav.dashboards", shownTo: (me) => may(me, "analytics.read") },
  { path: "/admin", label: "nav.admin", shownTo: canSeeAdmin },
];

/** The frame of every page after sign-in; sends a visitor who is not signed in to sign in. */
export function Shell() {
  const { t } = useI18n();
  const me = useMe();
  const location = useLocation();

  if (me.isPending) {
    return (
      <p className="page-status" role="status">
        {t("app.loading")}
      </p>
    );
  }
  if (me.isError) {
    return (
      <p className="notice notice--error" role="alert">
        {errorText(me.error, t)}
      </p>
    );
  }
  if (!me.data) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/sign-in?next=${next}`} replace />;
  }
  return (
    <LiveProvider enabled={me.data.permissions["events.stream"] !== undefined}>
      <SignedInShell me={me.data} />
    </LiveProvider>
  );
}

function SignedInShell({ me }: { me: Me }) {
  const { t, setUser } = useI18n();
  useEffect(() => {
    setUser(me.tenant_id, me.subject);
    return () => setUser(null);
  }, [me.tenant_id, me.subject, setUser]);
  const client = useApi();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [signOutError, setSignOutError] = useState<string | null>(null);
  const live = useLive();

  async function leave() {
    setSignOutError(null);
    live.stop(); // before the session ends, so that the stream asks nothing of an ended one
    try {
      await signOut(client);
    } catch (error) {
      setSignOutError(errorText(error, t));
      live.resume();
      return;
    }
    queryClient.clear();
    queryClient.setQueryData(ME_QUERY, null);
    navigate("/sign-in", { replace: true });
  }

  return (
    <div className="shell">
      <a className="skip-link" href="#content">
        {t("app.skipToContent")}
      </a>
      <header className="shell__header">
        <span className="shell__brand">{t("app.name")}</span>
        <nav aria-label={t("nav.label")} className="shell__nav">
          <ul>
            {PAGES.filter((page) => !page.shownTo || page.shownTo(me)).map((page) => (
              <li key={page.path}>
                <NavLink to={page.path}>{t(page.label)}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="shell__session">
          <LiveIndicator />
          <LanguageSwitch />
          <span>{t("session.signedInAs", { name: me.display_name ?? me.subject, tenant: me.tenant_id })}</span>
          <button type="button" onClick={leave}>
            {t("session.signOut")}
          </button>
          {signOutError && (
            <span role="alert" className="notice notice--error">
              {signOutError}
            </span>
          )}
        </div>
      </header>
      <main id="content" className="shell__main" tabIndex={-1}>
        <Outlet context={me} />
      </main>
    </div>
  );
}
