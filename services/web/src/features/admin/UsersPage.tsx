import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { useOutletContext } from "react-router";

import type { components } from "../../api/schema";
import type { Me } from "../../api/session";
import { useApi } from "../../app/ApiProvider";
import { errorText } from "../../app/errorText";
import { useI18n } from "../../i18n/I18nProvider";
import { PERSON_ROLES, may, roleLabel } from "./access";
import { Confirm } from "./Confirm";
import { OnceSecret } from "./OnceSecret";

type UserChanged = components["schemas"]["UserChanged"];
type User = components["schemas"]["UserOut"];

export const USERS_QUERY = ["admin", "users"] as const;
export const MIN_PASSWORD = 12;

/** The tenant's local accounts: list, add (a password given or generated, shown once), give
 * one a new password, disable one. */
export function UsersPage() {
  const me = useOutletContext<Me>();
  const { t } = useI18n();
  const client = useApi();
  const queryClient = useQueryClient();
  const canManage = may(me, "users.manage");
  const users = useQuery({ queryKey: USERS_QUERY, queryFn: () => client.get("/v1/admin/users") });
  const [shown, setShown] = useState<{ name: string; password: string } | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const tableId = useId();

  async function changed(message: string, secret?: { name: string; password: string }) {
    setShown(secret ?? null);
    setAnnouncement(message);
    await queryClient.invalidateQueries({ queryKey: [...USERS_QUERY] });
  }

  return (
    <div className="admin-users">
      <h2>{t("admin.users.title")}</h2>
      <p>{t("admin.users.intro")}</p>
      {canManage && <NewUserForm onAdded={changed} />}
      {shown && (
        <OnceSecret
          label={t("admin.users.passwordFor", { name: shown.name })}
          secret={shown.password}
          onDismiss={() => setShown(null)}
        />
      )}
      <p role="status" className="live-status">
        {announcement}
      </p>
      <h3 id={tableId}>{t("admin.users.list")}</h3>
      {users.isPending ? (
        <p role="status">{t("app.loading")}</p>
      ) : users.isError ? (
        <p role="alert" className="notice notice--error">
          {errorText(users.error, t)}
        </p>
      ) : users.data.users.length === 0 ? (
        <p>{t("admin.users.empty")}</p>
      ) : (
        <div className="table-scroll">
          <table className="data-table" aria-labelledby={tableId}>
            <thead>
              <tr>
                <th scope="col">{t("admin.users.col.name")}</th>
                <th scope="col">{t("admin.users.col.roles")}</th>
                <th scope="col">{t("admin.users.col.teams")}</th>
                <th scope="col">{t("admin.users.col.status")}</th>
                <th scope="col">{t("admin.users.col.created")}</th>
                <th scope="col">{t("admin.users.col.passwordChanged")}</th>
                {canManage && <th scope="col">{t("admin.users.col.actions")}</th>}
              </tr>
            </thead>
            <tbody>
              {users.data.users.map((user) => (
                <UserRow key={user.name} user={user} me={me} canManage={canManage} onChanged={changed} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function UserRow(props: {
  user: User;
  me: Me;
  canManage: boolean;
  onChanged(message: string, secret?: { name: string; password: string }): Promise<void>;
}) {
  const { user, me, canManage, onChanged } = props;
  const { t, dateTime } = useI18n();
  const client = useApi();
  const [confirming, setConfirming] = useState<"password" | "disable" | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const path = `/v1/admin/users/${encodeURIComponent(user.name)}`;

  async function act(which: "password" | "disable") {
    setBusy(true);
    setError(null);
    try {
      if (which === "password") {
        const answer = await client.send<UserChanged>("POST", `${path}/password`, { generate_password: true });
        setConfirming(null);
        await onChanged(
          t("admin.users.passwordReset", { name: user.name }),
          answer.password ? { name: user.name, password: answer.password } : undefined,
        );
      } else {
        await client.send<UserChanged>("POST", `${path}/disable`, {});
        setConfirming(null);
        await onChanged(t("admin.users.disabledDone", { name: user.name }));
      }
    } catch (failure) {
      setError(errorText(failure, t));
    } finally {
      setBusy(false);
    }
  }

  return (
    <tr>
      <th scope="row">
        {user.name}
        {user.display_name ? <div className="item__meta">{user.display_name}</div> : null}
      </th>
      <td>{user.roles.map((role) => roleLabel(t, role)).join(", ")}</td>
      <td>{user.teams.join(", ")}</td>
      <td>
        {user.disabled ? (
          <span className="badge badge--open">{t("admin.users.disabled")}</span>
        ) : (
          <span className="badge badge--resolved">{t("admin.users.active")}</span>
        )}
      </td>
      <td>
        {dateTime(user.created_at)}
        <div className="item__meta">{t("admin.by", { who: user.created_by })}</div>
      </td>
      <td>{user.password_changed_at ? dateTime(user.password_changed_at) : ""}</td>
      {canManage && (
        <td>
          {confirming === "password" ? (
            <Confirm
              question={t("admin.users.confirmPassword", { name: user.name })}
              confirmLabel={t("admin.users.resetPassword")}
              busy={busy}
              onConfirm={() => void act("password")}
              onCancel={() => setConfirming(null)}
            />
          ) : confirming === "disable" ? (
            <Confirm
              question={t("admin.users.confirmDisable", { name: user.name })}
              confirmLabel={t("admin.users.disable")}
              busy={busy}
              onConfirm={() => void act("disable")}
              onCancel={() => setConfirming(null)}
            />
          ) : user.disabled || user.name === me.subject ? null : (
            <div className="row-actions">
              <button
                type="button"
                className="button--secondary"
                onClick={() => setConfirming("password")}
                aria-label={t("admin.users.resetPasswordOf", { name: user.name })}
              >
                {t("admin.users.resetPassword")}
              </button>
              <button
                type="button"
                className="button--secondary"
                onClick={() => setConfirming("disable")}
                aria-label={t("admin.users.disableOf", { name: user.name })}
              >
                {t("admin.users.disable")}
              </button>
            </div>
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

/** Why a new account's fields cannot be sent yet (null: they can). */
export function newUserProblem(
  fields: { name: string; mode: "generate" | "set"; password: string },
  t: (key: "admin.users.nameRequired" | "admin.users.passwordShort", vars?: Record<string, number>) => string,
): string | null {
  if (!fields.name.trim()) return t("admin.users.nameRequired");
  if (fields.mode === "set" && fields.password.length < MIN_PASSWORD) {
    return t("admin.users.passwordShort", { min: MIN_PASSWORD });
  }
  return null;
}

export function NewUserForm({
  onAdded,
}: {
  onAdded(message: string, secret?: { name: string; password: string }): Promise<void>;
}) {
  const { t } = useI18n();
  const client = useApi();
  const ids = { name: useId(), role: useId(), teams: useId(), display: useId(), password: useId(), error: useId() };
  const [name, setName] = useState("");
  const [role, setRole] = useState<string>("sales_rep");
  const [teams, setTeams] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [mode, setMode] = useState<"generate" | "set">("generate");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const problem = newUserProblem({ name, mode, password }, t);
    if (problem) {
      setError(problem);
      return;
    }
    setError(null);
    setBusy(true);
    const added = name.trim();
    try {
      const answer = await client.send<UserChanged>("POST", "/v1/admin/users", {
        name: added,
        roles: [role],
        teams: teams
          .split(",")
          .map((team) => team.trim())
          .filter(Boolean),
        display_name: displayName.trim() || null,
        ...(mode === "generate" ? { generate_password: true } : { password }),
      });
      setName("");
      setTeams("");
      setDisplayName("");
      setPassword("");
      await onAdded(
        t("admin.users.added", { name: added }),
        answer.password ? { name: added, password: answer.password } : undefined,
      );
    } catch (failure) {
      setError(errorText(failure, t));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="admin-form" aria-labelledby={`${ids.name}-title`} onSubmit={(event) => void submit(event)} noValidate>
      <h3 id={`${ids.name}-title`}>{t("admin.users.add")}</h3>
      <div className="filters">
        <div className="filters__field">
          <label htmlFor={ids.name}>{t("admin.users.name")}</label>
          <input
            id={ids.name}
            value={name}
            onChange={(event) => setName(event.target.value)}
            autoComplete="off"
            required
            maxLength={128}
            aria-describedby={error ? ids.error : undefined}
          />
        </div>
        <div className="filters__field">
          <label htmlFor={ids.role}>{t("admin.users.role")}</label>
          <select id={ids.role} value={role} onChange={(event) => setRole(event.target.value)}>
            {PERSON_ROLES.map((value) => (
              <option key={value} value={value}>
                {roleLabel(t, value)}
              </option>
            ))}
          </select>
        </div>
        <div className="filters__field">
          <label htmlFor={ids.teams}>{t("admin.users.teams")}</label>
          <input id={ids.teams} value={teams} onChange={(event) => setTeams(event.target.value)} autoComplete="off" />
        </div>
        <div className="filters__field">
          <label htmlFor={ids.display}>{t("admin.users.displayName")}</label>
          <input
            id={ids.display}
            value={displayName}
            onChange={(event) => setDisplayName(event.target.value)}
            autoComplete="off"
            maxLength={200}
          />
        </div>
      </div>
      <fieldset className="admin-form__password">
        <legend>{t("admin.users.password")}</legend>
        <label className="filters__check">
          <input type="radio" name="password-mode" checked={mode === "generate"} onChange={() => setMode("generate")} />
          {t("admin.users.generate")}
        </label>
        <label className="filters__check">
          <input type="radio" name="password-mode" checked={mode === "set"} onChange={() => setMode("set")} />
          {t("admin.users.setOne")}
        </label>
        {mode === "set" && (
          <div className="filters__field">
            <label htmlFor={ids.password}>{t("admin.users.initialPassword", { min: MIN_PASSWORD })}</label>
            <input
              id={ids.password}
              type="password"
              value={password}
              onChange={(event) => setPassword(event.target.value)}
              autoComplete="new-password"
              minLength={MIN_PASSWORD}
            />
          </div>
        )}
      </fieldset>
      <div className="form-actions">
        <button type="submit" disabled={busy}>
          {busy ? t("admin.users.adding") : t("admin.users.addSubmit")}
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
