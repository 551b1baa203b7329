// The tablet page's one mutable state: made once by the entry (tablet.js) and passed to every function that
// reads or changes it, so what the page holds about the patient in hand is all in one place (and the wipe
// can see that it forgets all of it).

export function createTabletState() {
  return {
    session: null, // { handle, patientName, expectedAge: { linkId, low, high } | undefined }
    questionnaire: null,
    /** linkId → the linkId of the part (top-level group) it is in, and the linkIds the Questionnaire marks required. */
    partOf: new Map(),
    requiredIds: new Set(),
    /** The age she confirmed when asked to check it (she is not asked again for the same number). */
    ageConfirmed: null,
    responseId: null,
    step: 0,
    /** The rendered top-level groups, one a step. */
    groups: [],
    alertShown: false,
    /** A submission is on its way: the form is frozen, the idle timeout is off. */
    sending: false,
    /** Next (or Submit) is checking the parts: a second press waits for it. */
    advancing: false,
    lastActivityWrite: 0,
    /** The answers (JSON of `item`) last written to the vault, and last checked by the server. */
    savedAnswers: null,
    checkedAnswers: null,
    timers: { retry: null, ping: null, check: null },
    /** The idle timeout (tablet-idle.js), set by the entry: its timers are its own. */
    idle: null,
  };
}
