import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";

import { ApiError } from "../../api/errors";
import { providerSignInUrl, signIn, signInMethods, whoIsSignedIn } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { LanguageSwitch } from "../../app/LanguageSwitch";
import { ME_QUERY, useMe } from "../../app/session";
import { useI18n } from "../../i18n/I18nProvider";
import type { MessageKey } from "../../i18n/messages";

const DEFAULT_TENANT = "default";

/** The codes `/v1/session/oidc/callback` sends back in `?error=`, each with its message. */
const PROVIDER_ERRORS: Record<string, MessageKey> = {
  cancelled: "signIn.error.cancelled",
  provider_error: "signIn.error.providerError",
  bad_state: "signIn.error.badState",
  exchange_failed: "signIn.error.exchangeFailed",
  bad_token: "signIn.error.badToken",
  no_tenant: "signIn.error.noTenant",
  no_role: "signIn.error.noRole",
  provider_unavailable: "signIn.error.unavailable",
  too_many_attempts: "signIn.tooMany",
  not_offered: "signIn.error.notOffered",
};

/** The message of the identity provider's sign-in that failed, if the page was sent one. */
function providerError(search: string): MessageKey | null {
  const code = new URLSearchParams(search).get("error");
  if (code === null) return null;
  const known = Object.prototype.hasOwnProperty.call(PROVIDER_ERRORS, code) ? PROVIDER_ERRORS[code] : undefined;
  return known ?? "signIn.error.failed";
}

/** Where to go after signing in: the page that sent us here, if it is one of ours. */
function nextPath(search: string): string {
  const next = new URLSearchParams(search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/my-day";
}

export function SignInPage() {
  const { t } = useI18n();
  const client = useApi();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const me = useMe();
  const [tenant, setTenant] = useState(DEFAULT_TENANT);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const methods = useQuery({
    queryKey: ["session", "methods"],
    queryFn: () => signInMethods(client),
    staleTime: 300_000,
    retry: false,
  });
  const provider = methods.data?.oidc ?? null;
  const localAccounts = methods.data?.local_accounts !== false;
  const returned = providerError(location.search);

  if (me.data) return <Navigate to={nextPath(location.search)} replace />;

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setBusy(true);
    setFailure(null);
    try {
      await signIn(client, { tenant: tenant.trim(), name: name.trim(), password });
      const signedIn = await whoIsSignedIn(client);
      queryClient.setQueryData(ME_QUERY, signedIn);
      if (signedIn) {
        navigate(nextPath(location.search), { replace: true });
      } else {
        setFailure(t("error.sessionEnded"));
      }
    } catch (error) {
      setPassword("");
      if (error instanceof ApiError && error.code === "invalid_credentials") {
        setFailure(t("signIn.invalidCredentials"));
      } else if (error instanceof ApiError && error.status === 429) {
        setFailure(t("signIn.tooMany"));
      } else {
        setFailure(errorText(error, t));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="sign-in">
      <main id="content" className="sign-in__panel">
        <h1>{t("app.name")}</h1>
        <h2>{t("signIn.title")}</h2>
        {returned && (
          <div id="sign-in-returned" role="alert" className="notice notice--error">
            <strong>{t("signIn.failed")}</strong> {t(returned)}
          </div>
        )}
        {provider && (
          <p className="sign-in__provider">
            <a href={providerSignInUrl(provider.start, nextPath(location.search))}>
              {provider.display_name
                ? t("signIn.withProvider", { name: provider.display_name })
                : t("signIn.withOrganisation")}
            </a>
          </p>
        )}
        {provider && localAccounts && <p className="sign-in__or">{t("signIn.or")}</p>}
        {localAccounts && <p>{t("signIn.intro")}</p>}
        {localAccounts && (
          <form onSubmit={submit} aria-describedby={failure ? "sign-in-failure" : undefined}>
            <label htmlFor="sign-in-tenant">{t("signIn.tenant")}</label>
            <input
              id="sign-in-tenant"
              name="tenant"
              autoComplete="organization"
              required
              value={tenant}
              onChange={(event) => setTenant(event.target.value)}
            />
            <label htmlFor="sign-in-name">{t("signIn.name")}</label>
            <input
              id="sign-in-name"
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              required
              value={name}
              onChange={(event) => setName(event.target.value)}
            />
            <label htmlFor="sign-in-password">{t("signIn.password")}</label>
            <input
              id="sign-in-password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(event) => setPassword(event.target.value)}
            />
            {failure && (
              <div id="sign-in-failure" role="alert" className="notice notice--error">
                <strong>{t("signIn.failed")}</strong> {failure}
              </div>
            )}
            <button type="submit" disabled={busy}>
              {busy ? t("signIn.submitting") : t("signIn.submit")}
            </button>
          </form>
        )}
        <LanguageSwitch />
      </main>
    </div>
  );
}
