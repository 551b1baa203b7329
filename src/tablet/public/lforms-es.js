// LHC-Forms' own words (validation messages, hints, ARIA labels) in Spanish.
//
// LHC-Forms 40 has no run-time language switch: its language is chosen when LHC-Forms itself is built (its
// README: "build LForms in a different language", src/languages/*.json, only German so far), and the
// distributed build is English. So the tablet translates what LHC-Forms says, at two places:
//  1. the messages: `LForms.Validations` (a public object of the build) is what every item's validation
//     calls; its check functions are wrapped so that the messages they produce are Spanish before LHC-Forms
//     shows them under the field or returns them from `checkValidity`;
//  2. the rest (placeholders, ARIA labels and titles from its templates, popover titles, screen-reader
//     announcements): a MutationObserver rewrites the few known English strings as LHC-Forms renders them.
// Both act only while Spanish is chosen. test/tablet/i18n.int.test.ts checks that every English message of the
// installed LHC-Forms build has an entry here (so an upgrade that adds or rewords one fails a test).

/** LHC-Forms' language file (keys as in its src/languages/en_US.json): [English, Spanish]. */
export const MESSAGES = {
  helpTitle: ['Instruction', 'Ayuda'],
  legalTitle: ['legal', 'aviso legal'],
  placeholderSearchMultiOptionsOrString: ['Search for or type values', 'Busque o escriba valores'],
  placeholderSearchSingleOptionsOrString: ['Search for or type a value', 'Busque o escriba un valor'],
  placeholderSelectMultiOptionsOrString: [
    'Select one or more or type a value',
    'Elija una o más opciones o escriba un valor',
  ],
  placeholderSelectSingleOptionsOrString: ['Select one or type a value', 'Elija una opción o escriba un valor'],
  placeholderSearchMulti: ['Search for values', 'Busque valores'],
  placeholderSearchSingle: ['Search for a value', 'Busque un valor'],
  placeholderSelectMulti: ['Select one or more', 'Elija una o más opciones'],
  placeholderSelectSingle: ['Select one', 'Elija una opción'],
  // LHC-Forms still reads month/day/year: the Spanish hint keeps that order, only the letters change.
  placeholderDate: ['MM/DD/YYYY', 'MM/DD/AAAA'],
  placeholderDateTime: ['MM/DD/YYYY HH:MM:SS', 'MM/DD/AAAA HH:MM:SS'],
  placeholderTime: ['HH:MM:SS', 'HH:MM:SS'],
  placeholderTypeANumber: ['Type a number', 'Escriba un número'],
  placeholderTypeAValue: ['Type a value', 'Escriba un valor'],
  added: ['Added ', 'Añadido: '],
  removed: ['Removed ', 'Quitado: '],
  'errorMessages.BL': ['must be a boolean (true/false).', 'debe ser verdadero o falso.'],
  'errorMessages.INT': ['must be an integer number.', 'debe ser un número entero.'],
  'errorMessages.REAL': ['must be a decimal number.', 'debe ser un número.'],
  'errorMessages.ST': ['must be a string value.', 'debe ser un texto.'],
  'errorMessages.TX': ['must be a text value.', 'debe ser un texto.'],
  'errorMessages.BIN': ['must be a binary value.', 'debe ser un valor binario.'],
  'errorMessages.DT': ['must be a date value.', 'debe ser una fecha.'],
  'errorMessages.DTM': ['must be a date and time value.', 'debe ser una fecha y una hora.'],
  'errorMessages.TM': ['must be a time value.', 'debe ser una hora.'],
  'errorMessages.RTO': ['must be a ratio value.', 'debe ser una proporción.'],
  'errorMessages.QTY': ['must be a decimal number.', 'debe ser un número.'],
  'errorMessages.NR': [
    'must be two numeric values separated by a ^. One value can be omitted, but not the ^.',
    'deben ser dos números separados por ^. Puede faltar uno de los números, pero no el ^.',
  ],
  'errorMessages.YEAR': ['must be a numeric value of year.', 'debe ser un año en números.'],
  'errorMessages.MONTH': ['must be a numeric value of month.', 'debe ser un mes en números.'],
  'errorMessages.DAY': ['must be a numeric value of day.', 'debe ser un día en números.'],
  'errorMessages.URL': ['must be a valid URL.', 'debe ser una dirección web válida.'],
  'errorMessages.EMAIL': ['must be a valid email address.', 'debe ser un correo electrónico válido.'],
  'errorMessages.PHONE': ['must be a valid phone number.', 'debe ser un número de teléfono válido.'],
  requiresAValue: ['requires a value', 'necesita una respuesta'],
  mustBeGreater: ['must be a value greater than {lformsParam}.', 'debe ser mayor que {lformsParam}.'],
  mustBeGreaterOrEqual: ['must be a value greater than or equal to {lformsParam}.', 'debe ser {lformsParam} o más.'],
  mustBeLess: ['must be a value less than {lformsParam}.', 'debe ser menor que {lformsParam}.'],
  mustBeLessOrEqual: ['must be a value less than or equal to {lformsParam}.', 'debe ser {lformsParam} o menos.'],
  mustHaveTotalLength: ['must have a total length of {lformsParam}.', 'debe tener {lformsParam} caracteres.'],
  mustHaveTotalLengthLessOrEqual: [
    'must have a total length less than or equal to {lformsParam}.',
    'debe tener {lformsParam} caracteres como máximo.',
  ],
  mustHaveTotalLengthGreaterOrEqual: [
    'must have a total length greater than or equal to {lformsParam}.',
    'debe tener al menos {lformsParam} caracteres.',
  ],
  mustMatchRegex: ['must match a RegExp pattern of {lformsParam}.', 'no tiene el formato esperado ({lformsParam}).'],
  mustNotHaveMoreDecimalPlaces: [
    'must not have more than {lformsParam} decimal places.',
    'no debe tener más de {lformsParam} decimales.',
  ],
  mustNotHaveMoreAnswers: [
    'must not have more than {lformsParam} answers.',
    'no debe tener más de {lformsParam} respuestas.',
  ],
  mustNotHaveLessAnswers: [
    'must have at least {lformsParam} answers.',
    'debe tener al menos {lformsParam} respuestas.',
  ],
  booleanYes: ['Yes', 'Sí'],
  booleanNo: ['No', 'No'],
  booleanNotAnswered: ['Not Answered', 'Sin responder'],
  pleaseEnterInfoForTheBlank: [
    'Please enter info in the blank "{lformsParam}".',
    'Escriba la información en el espacio «{lformsParam}».',
  ],
  other: ['Other', 'Otra'],
};

/** Text LHC-Forms' templates put into ARIA labels, titles and its screen-reader log (not in its language file). */
export const TEMPLATES = [
  [/^Instruction: (.*)$/s, 'Ayuda: $1'], // help popover: `${helpTitle}: ${text}`
  [/^legal: (.*)$/s, 'Aviso legal: $1'],
  [/^Help button for (.+)$/s, 'Ayuda: $1'],
  [/^Help for question (.+)$/s, 'Ayuda para la pregunta: $1'],
  [/^Instruction for (.+)$/s, 'Ayuda para: $1'],
  [/^Legal button for (.+)$/s, 'Aviso legal: $1'],
  [/^Legal for question (.+)$/s, 'Aviso legal de la pregunta: $1'],
  [/^Legal for (.+)$/s, 'Aviso legal de: $1'],
  [/^Copyright (?:button|notice) for (.+)$/s, 'Derechos de autor: $1'],
  [/^Other values for (.+)$/s, 'Otras respuestas para: $1'],
  [/^add button for (.+)$/s, 'Añadir otra respuesta: $1'],
  [/^Checkbox Other for (.+)$/s, 'Casilla «Otra»: $1'],
  [/^Checkbox (.+) for (.+)$/s, 'Casilla «$1»: $2'],
  [/^Showing (.+)$/s, 'Se muestra: $1'],
  [/^Hiding (.+)$/s, 'Se oculta: $1'],
  [/^Added (.+)$/s, 'Añadido: $1'],
  [/^Removed (.+)$/s, 'Quitado: $1'],
  [/^Selected (.+)$/s, 'Elegido: $1'],
  [/^Unselected (.+)$/s, 'Ya no está elegido: $1'],
];

/** Single words LHC-Forms uses as labels: the required-answer asterisk's title, icon names read as labels. */
const WORDS = { Required: 'Obligatoria', close: 'Cerrar', 'question-circle': 'Ayuda' };

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exact = new Map(Object.entries(WORDS));
const withParam = [];
for (const [en, es] of Object.values(MESSAGES)) {
  if (en === es) continue;
  if (en.includes('{lformsParam}')) {
    const [before, after] = en.split('{lformsParam}').map(escapeRegExp);
    withParam.push([new RegExp(`^${before}(.*)${after}$`, 's'), es]);
  } else if (en.trim()) exact.set(en.trim(), es.trim());
}
// "greater than {x}" would also match "greater than or equal to 18": try the longer templates first.
withParam.sort((a, b) => b[0].source.length - a[0].source.length);

/** The Spanish for one English LHC-Forms string, or undefined when it is not one of LHC-Forms' own. */
export function toSpanish(text) {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const hit = exact.get(trimmed);
  if (hit !== undefined) return hit;
  for (const [re, es] of withParam) {
    const m = re.exec(trimmed);
    if (m) return es.replace('{lformsParam}', m[1]);
  }
  for (const [re, es] of TEMPLATES) if (re.test(trimmed)) return trimmed.replace(re, es);
  return undefined;
}

const ATTRIBUTES = ['aria-label', 'title', 'placeholder'];

function translateAttribute(el, attr) {
  const value = el.getAttribute(attr);
  const es = value && toSpanish(value);
  if (es && es !== value) el.setAttribute(attr, es);
}

function translateTree(node) {
  if (node.nodeType === 3) {
    const es = toSpanish(node.data);
    if (es && es !== node.data.trim()) node.data = node.data.replace(node.data.trim(), es);
    return;
  }
  if (node.nodeType !== 1) return;
  for (const attr of ATTRIBUTES) if (node.hasAttribute(attr)) translateAttribute(node, attr);
  for (const el of node.querySelectorAll('[aria-label], [title], [placeholder]'))
    for (const attr of ATTRIBUTES) if (el.hasAttribute(attr)) translateAttribute(el, attr);
  const walker = document.createTreeWalker(node, 4 /* NodeFilter.SHOW_TEXT */);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) translateTree(t);
}

let installed = false;

/**
 * Make LHC-Forms speak Spanish whenever `isSpanish()` says so. Call once, after `lformsReady()` and before
 * the first form is rendered; the root observed is `root` (the page body by default, because LHC-Forms puts
 * its popovers and screen-reader log outside the form's container).
 */
export function localizeLForms(LForms, isSpanish, root = document.body) {
  if (installed) return;
  installed = true;
  const validations = LForms.Validations;
  for (const name of ['checkRequired', 'checkDataType', 'checkRestrictions']) {
    const original = validations[name];
    if (typeof original !== 'function') continue;
    validations[name] = function (...args) {
      const messages = args.find((a) => Array.isArray(a));
      const before = messages?.length ?? 0;
      const result = original.apply(this, args);
      if (messages && isSpanish())
        for (let i = before; i < messages.length; i++) messages[i] = toSpanish(String(messages[i])) ?? messages[i];
      return result;
    };
  }
  new window.MutationObserver((records) => {
    if (!isSpanish()) return;
    for (const r of records) {
      if (r.type === 'attributes') translateAttribute(r.target, r.attributeName);
      else if (r.type === 'characterData') translateTree(r.target);
      else for (const n of r.addedNodes) translateTree(n);
    }
  }).observe(root, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ATTRIBUTES,
  });
}
