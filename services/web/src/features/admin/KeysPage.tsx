import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { useOutletContext } from "react-router";

import type { components } from "../../api/schema";
import type { Me } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useI18n } from "../../i18n/I18nProvider";
import { KEY_ROLES, KEY_SCOPES, may, roleLabel } from "./access";
import { Confirm } from "./Confirm";
import { OnceSecret } from "./OnceSecret";

type Key = components["schemas"]["KeyOut"];
type Issued = components["schemas"]["KeyIssued"];

export const KEYS_QUERY = ["admin", "keys"] as const;

/** The tenant's API keys: list (never secrets), issue one (its secret shown once), revoke. */
export function KeysPage() {
  const me = useOutletContext<Me>();
  const { t } = useI18n();
  const client = useApi();
  const queryClient = useQueryClient();
  const canManage = may(me, "keys.manage");
  const keys = useQuery({ queryKey: KEYS_QUERY, queryFn: () => client.get("/v1/admin/keys") });
  const [issued, setIssued] = useState<Issued | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const tableId = useId();

  async function changed(message: string, key?: Issued) {
    setIssued(key ?? null);
    setAnnouncement(message);
    await queryClient.invalidateQueries({ queryKey: [...KEYS_QUERY] });
  }

  return (
    <div className="admin-keys">
      <h2>{t("admin.keys.title")}</h2>
      <p>{t("admin.keys.intro")}</p>
      {canManage && <NewKeyForm onIssued={changed} />}
      {issued && (
        <OnceSecret
          label={t("admin.keys.secretFor", { subject: issued.subject })}
          secret={issued.key}
          onDismiss={() => setIssued(null)}
        />
      )}
      <p role="status" className="live-status">
        {announcement}
      </p>
      <h3 id={tableId}>{t("admin.keys.list")}</h3>
      {keys.isPending ? (
        <p role="status">{t("app.loading")}</p>
      ) : keys.isError ? (
        <p role="alert" className="notice notice--error">
          {errorText(keys.error, t)}
        </p>
      ) : keys.data.keys.length === 0 ? (
        <p>{t("admin.keys.empty")}</p>
      ) : (
        <div className="table-scroll">
          <table className="data-table" aria-labelledby={tableId}>
            <thead>
              <tr>
                <th scope="col">{t("admin.keys.col.subject")}</th>
                <th scope="col">{t("admin.keys.col.id")}</th>
                <th scope="col">{t("admin.keys.col.roles")}</th>
                <th scope="col">{t("admin.keys.col.created")}</th>
                <th scope="col">{t("admin.keys.col.expires")}</th>
                <th scope="col">{t("admin.keys.col.lastUsed")}</th>
                <th scope="col">{t("admin.keys.col.status")}</th>
                {canManage && <th scope="col">{t("admin.keys.col.actions")}</th>}
              </tr>
            </thead>
            <tbody>
              {keys.data.keys.map((key) => (
                <KeyRow key={key.key_id} apiKey={key} canManage={canManage} onChanged={changed} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function KeyRow({
  apiKey,
  canManage,
  onChanged,
}: {
  apiKey: Key;
  canManage: boolean;
  onChanged(message: string): Promise<void>;
}) {
  const { t, dateTime } = useI18n();
  const client = useApi();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const expired = apiKey.expires_at !== null && new Date(apiKey.expires_at).getTime() < Date.now();

  async function revoke() {
    setBusy(true);
    setError(null);
    try {
      await client.send("DELETE", `/v1/admin/keys/${encodeURIComponent(apiKey.key_id)}`);
      setConfirming(false);
      await onChanged(t("admin.keys.revoked", { subject: apiKey.subject }));
    } catch (failure) {
      setError(errorText(failure, t));
    } finally {
      setBusy(false);
    }
  }

  return (
    <tr>
      <th scope="row">
        {apiKey.subject}
        {apiKey.display_name ? <div className="item__meta">{apiKey.display_name}</div> : null}
      </th>
      <td>
        <code>{apiKey.key_id.slice(0, 8)}</code>
      </td>
      <td>
        {apiKey.roles.map((role) => roleLabel(t, role)).join(", ")}
        {apiKey.scopes.length > 0 && <div className="item__meta">{apiKey.scopes.join(", ")}</div>}
      </td>
      <td>
        {dateTime(apiKey.created_at)}
        <div className="item__meta">{t("admin.by", { who: apiKey.created_by })}</div>
      </td>
      <td>{apiKey.expires_at ? dateTime(apiKey.expires_at) : t("admin.keys.never")}</td>
      <td>{apiKey.last_used_at ? dateTime(apiKey.last_used_at) : t("admin.keys.notUsed")}</td>
      <td>
        {apiKey.revoked_at ? (
          <span className="badge badge--open">{t("admin.keys.statusRevoked")}</span>
        ) : expired ? (
          <span className="badge badge--acknowledged">{t("admin.keys.statusExpired")}</span>
        ) : (
          <span className="badge badge--resolved">{t("admin.keys.statusActive")}</span>
        )}
      </td>
      {canManage && (
        <td>
          {apiKey.revoked_at ? null : confirming ? (
            <Confirm
              question={t("admin.keys.confirmRevoke", { subject: apiKey.subject })}
              confirmLabel={t("admin.keys.revoke")}
              busy={busy}
              onConfirm={() => void revoke()}
              onCancel={() => setConfirming(false)}
            />
          ) : (
            <button
              type="button"
              className="button--secondary"
              onClick={() => setConfirming(true)}
              aria-label={t("admin.keys.revokeOf", { subject: apiKey.subject, id: apiKey.key_id.slice(0, 8) })}
            >
              {t("admin.keys.revoke")}
            </button>
          )}
          {error && (
            <p role="alert" className="notice notice--error">
              {error}
            </p>
          )}
        </td>
      )}
    </tr>
  );
}

function NewKeyForm({ onIssued }: { onIssued(message: string, key: Issued): Promise<void> }) {
  const { t } = useI18n();
  const client = useApi();
  const ids = { title: useId(), subject: useId(), role: useId(), display: useId(), days: useId(), error: useId() };
  const [subject, setSubject] = useState("");
  const [role, setRole] = useState<string>("integration");
  const [scopes, setScopes] = useState<string[]>([]);
  const [displayName, setDisplayName] = useState("");
  const [days, setDays] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!subject.trim()) {
      setError(t("admin.keys.subjectRequired"));
      return;
    }
    if (role === "integration" && scopes.length === 0) {
      setError(t("admin.keys.scopesRequired"));
      return;
    }
    const expiresIn = days.trim() ? Number(days) : null;
    if (expiresIn !== null && (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 3650)) {
      setError(t("admin.keys.daysInvalid"));
      return;
    }
    setError(null);
    setBusy(true);
    try {
      const answer = await client.send<Issued>("POST", "/v1/admin/keys", {
        subject: subject.trim(),
        roles: [role],
        scopes: role === "integration" ? scopes : [],
        display_name: displayName.trim() || null,
        expires_in_days: expiresIn,
      });
      setSubject("");
      setDisplayName("");
      setDays("");
      setScopes([]);
      await onIssued(t("admin.keys.issued", { subject: answer.subject }), answer);
    } catch (failure) {
      setError(errorText(failure, t));
    } finally {
      setBusy(false);
    }
  }

  function toggle(scope: string, on: boolean) {
    setScopes((current) => (on ? [...current, scope] : current.filter((s) => s !== scope)));
  }

  return (
    <form className="admin-form" aria-labelledby={ids.title} onSubmit={(event) => void submit(event)} noValidate>
      <h3 id={ids.title}>{t("admin.keys.create")}</h3>
      <div className="filters">
        <div className="filters__field">
          <label htmlFor={ids.subject}>{t("admin.keys.subject")}</label>
          <input
            id={ids.subject}
            value={subject}
            onChange={(event) => setSubject(event.target.value)}
            autoComplete="off"
            maxLength={128}
            aria-describedby={error ? ids.error : undefined}
          />
        </div>
        <div className="filters__field">
          <label htmlFor={ids.role}>{t("admin.keys.role")}</label>
          <select id={ids.role} value={role} onChange={(event) => setRole(event.target.value)}>
            {KEY_ROLES.map((value) => (
              <option key={value} value={value}>
                {roleLabel(t, value)}
              </option>
            ))}
          </select>
        </div>
        <div className="filters__field">
          <label htmlFor={ids.display}>{t("admin.keys.displayName")}</label>
          <input
            id={ids.display}
            value={displayName}
            onChange={(event) => setDisplayName(event.target.value)}
            autoComplete="off"
            maxLength={200}
          />
        </div>
        <div className="filters__field">
          <label htmlFor={ids.days}>{t("admin.keys.expiresInDays")}</label>
          <input
            id={ids.days}
            type="number"
            min={1}
            max={3650}
            inputMode="numeric"
            value={days}
            onChange={(event) => setDays(event.target.value)}
          />
        </div>
      </div>
      {role === "integration" && (
        <fieldset className="admin-form__scopes">
          <legend>{t("admin.keys.scopes")}</legend>
          {KEY_SCOPES.map((scope) => (
            <label key={scope} className="filters__check">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={(event) => toggle(scope, event.target.checked)} />
              <code>{scope}</code>
            </label>
          ))}
        </fieldset>
      )}
      <div className="form-actions">
        <button type="submit" disabled={busy}>
          {busy ? t("admin.keys.creating") : t("admin.keys.createSubmit")}
        </button>
      </div>
      {error && (
        <p id={ids.error} role="alert" className="notice notice--error">
          {error}
        </p>
      )}
    </form>
  );
}
