/**
 * The API's one error shape, `{code, message, details}`, as an Error the UI can show.
 */

export interface ErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The domain rule that refused a command (`details.rule`), if one did. */
  get rule(): string | undefined {
    const rule = this.details["rule"];
    return typeof rule === "string" ? rule : undefined;
  }
}

/** `status` 0: the request never got an answer (offline, server down). */
export const NETWORK_ERROR = "network_error";
/** An answer that is not the API's error shape (a proxy's page, say). */
export const HTTP_ERROR = "http_error";

export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null) return false;
  const body = value as Record<string, unknown>;
  return (
    typeof body["code"] === "string" &&
    typeof body["message"] === "string" &&
    typeof body["details"] === "object" &&
    body["details"] !== null &&
    !Array.isArray(body["details"])
  );
}

/** The ApiError a failed response stands for. */
export async function errorOf(response: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (isErrorBody(body)) {
    return new ApiError(response.status, body.code, body.message, body.details);
  }
  return new ApiError(response.status, HTTP_ERROR, `HTTP ${response.status}`);
}
