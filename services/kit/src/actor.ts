import { common } from "@casebridge/proto";
import type { CallContext } from "./contract";
import { PermissionDeniedError, UnauthenticatedError } from "./errors";

/** Metadata names that carry the caller, set by the gateway from the user's verified token. */
export const ActorHeader = {
  user: "cb-user",
  roles: "cb-roles",
  agency: "cb-agency",
} as const;

/** Who is calling: user id, realm roles and agency. */
export interface Actor {
  readonly user: string;
  readonly roles: readonly string[];
  readonly agency: common.Agency;
}

/** Metadata that presents `actor` to a service. */
export function actorMetadata(actor: Actor): Record<string, string> {
  return { [ActorHeader.user]: actor.user, [ActorHeader.roles]: actor.roles.join(","), [ActorHeader.agency]: common.agencyToJSON(actor.agency) };
}

/** The caller of this call; throws UnauthenticatedError when the metadata does not name one. */
export function actorOf(ctx: CallContext): Actor {
  const user = ctx.metadata[ActorHeader.user] ?? "";
  const agency = common.agencyFromJSON(ctx.metadata[ActorHeader.agency] ?? "AGENCY_UNSPECIFIED");
  if (!user || agency === common.Agency.AGENCY_UNSPECIFIED || agency === common.Agency.UNRECOGNIZED) {
    throw new UnauthenticatedError("the call names no user and agency");
  }
  const roles = (ctx.metadata[ActorHeader.roles] ?? "").split(",").map((role) => role.trim()).filter(Boolean);
  return { user, roles, agency };
}

/** The caller, who must belong to `agency` and hold one of `roles`; throws PermissionDeniedError otherwise. */
export function requireActor(ctx: CallContext, agency: common.Agency, roles: readonly string[]): Actor {
  const actor = actorOf(ctx);
  if (actor.agency !== agency) throw new PermissionDeniedError(`${actor.user} belongs to another agency`);
  if (!roles.some((role) => actor.roles.includes(role))) {
    throw new PermissionDeniedError(`${actor.user} needs one of the roles ${roles.join(", ")}`);
  }
  return actor;
}
