/** The launcher's EHR launches: a short-lived, single-use launch context behind an opaque `launch` id. */
import { randomBytes } from 'node:crypto';
import { badRequest } from '../../outcomes/index.js';
import type { AuthContext } from './context.js';
import type { CreateLaunchInput } from './options.js';

export async function createLaunch(
  auth: AuthContext,
  input: CreateLaunchInput,
): Promise<{ launch: string; expiresAt: Date }> {
  if (!(await auth.findPatient(input.patient))) throw badRequest(`Unknown patient ${input.patient}`, 'patient');
  if (!(await auth.findPractitioner(input.practitioner)))
    throw badRequest(`Unknown practitioner ${input.practitioner}`, 'practitioner');
  if (input.clientId && !auth.clientsById.has(input.clientId))
    throw badRequest(`Unknown app ${input.clientId}`, 'clientId');
  const launch = randomBytes(24).toString('base64url');
  auth.db.saveLaunch(
    launch,
    {
      patient: input.patient,
      practitioner: input.practitioner,
      ...(input.encounter ? { encounter: input.encounter } : {}),
      needPatientBanner: input.needPatientBanner ?? true,
      smartStyleUrl: input.smartStyleUrl ?? auth.smartStyleUrl,
      ...(input.clientId ? { clientId: input.clientId } : {}),
    },
    auth.launchSeconds,
  );
  return { launch, expiresAt: new Date(Date.now() + auth.launchSeconds * 1000) };
}
