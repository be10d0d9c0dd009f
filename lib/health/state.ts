// The rise/fall state machine of one health check: pure, so it is tested as a table. The first result
// decides at once (a node should not wait `rise` intervals after a start to serve); afterwards a check
// changes state only after `rise` consecutive passes or `fall` consecutive failures.

export type HealthStatus = "pending" | "up" | "down";

export interface HealthState {
  readonly status: HealthStatus;
  /** Consecutive results against the current status. */
  readonly streak: number;
  /** The last failure's description ("connect ECONNREFUSED", "HTTP 503", "exit status 1"). */
  readonly detail?: string;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly detail?: string;
}

export const PENDING: HealthState = Object.freeze({ status: "pending", streak: 0 });

export function nextHealth(
  state: HealthState,
  result: CheckResult,
  thresholds: { readonly rise: number; readonly fall: number },
): HealthState {
  const detail = result.ok ? undefined : (result.detail ?? "failed");
  if (state.status === "pending")
    return result.ok ? { status: "up", streak: 0 } : { status: "down", streak: 0, detail };
  const agrees = (state.status === "up") === result.ok;
  if (agrees)
    return state.status === "up" ? { status: "up", streak: 0 } : { status: "down", streak: 0, detail };
  const streak = state.streak + 1;
  const needed = state.status === "up" ? thresholds.fall : thresholds.rise;
  if (streak >= needed)
    return result.ok ? { status: "up", streak: 0 } : { status: "down", streak: 0, detail };
  // Still in the old state; a failing streak on a healthy check already says what fails.
  return {
    status: state.status,
    streak,
    ...(state.status === "up" ? { detail } : state.detail ? { detail: state.detail } : {}),
  };
}
