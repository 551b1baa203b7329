/**
 * The QuestionnaireResponse a tablet sends, as the module stores it: only the answers come from the tablet;
 * the patient, the staff member's device and every field that says whose and how are set here.
 */
import { z } from 'zod';
import { badRequest } from '../outcomes/index.js';
import type { TabletContext } from './context.js';
import { canonicalResponseText } from './questionnaire.js';
import type { TabletSession } from './store.js';

export const TABLET_RESPONSE_SYSTEM = 'https://periplan.app/fhir/sid/tablet-response';
export const COLLECTION_DEVICE_EXT = 'https://periplan.app/fhir/StructureDefinition/ext-collection-device';

// Only the answers are taken from the tablet; their shape is checked here, their content by the write path.
const responseItem: z.ZodType<unknown> = z.lazy(() =>
  z
    .object({
      linkId: z.string().max(200),
      item: z.array(responseItem).max(100).optional(),
      answer: z
        .array(z.object({ item: z.array(responseItem).max(100).optional() }).loose())
        .max(50)
        .optional(),
    })
    .loose(),
);
const responseBody = z.object({
  response: z
    .object({ resourceType: z.literal('QuestionnaireResponse'), item: z.array(responseItem).max(100).optional() })
    .loose(),
});

/** The response as the module stores it: this patient, her own answers, the staff member, the device. */
export function buildResponse(
  ctx: TabletContext,
  raw: unknown,
  session: TabletSession,
  status: 'completed',
): fhir4.QuestionnaireResponse {
  const body = responseBody.safeParse(raw);
  if (!body.success) throw badRequest('Send { response: QuestionnaireResponse }.', 'response');
  const r = body.data.response as unknown as fhir4.QuestionnaireResponse;
  const id = r.identifier;
  if (id && (id.system !== TABLET_RESPONSE_SYSTEM || !/^[0-9a-f-]{36}$/.test(id.value ?? '')))
    throw badRequest('Unexpected identifier.', 'QuestionnaireResponse.identifier');
  const patient: fhir4.Reference = { reference: `Patient/${session.patientId}` };
  // Only the answers come from the tablet; everything that says whose and how is set here.
  const response: fhir4.QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    ...(id ? { identifier: { system: TABLET_RESPONSE_SYSTEM, value: id.value! } } : {}),
    extension: [{ url: COLLECTION_DEVICE_EXT, valueReference: { display: `waiting-room tablet ${session.device}` } }],
    questionnaire: ctx.canonical,
    status,
    subject: patient,
    authored: new Date(ctx.now()).toISOString(),
    author: patient,
    source: patient,
    ...(r.item ? { item: r.item } : {}),
  };
  return canonicalResponseText(response, ctx.questionnaire);
}
