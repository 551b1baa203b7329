// The tablet's own words in English and Spanish. The questions themselves come translated from the server
// (the Questionnaire's translation extensions).
const STRINGS = {
  en: {
    brand: 'Back pain questions',
    welcome: 'Welcome',
    enterCode: 'Please type the code the staff gave you.',
    code: 'Code',
    start: 'Start',
    back: 'Back',
    next: 'Next',
    send: 'Send my answers',
    thanks: 'Thank you',
    handBack: 'Please hand the tablet back to the staff.',
    queued: 'Your answers are saved on this tablet and will be sent as soon as the connection is back.',
    tellStaffTitle: 'Please tell the staff now',
    tellStaffText:
      'Some of your answers mean a member of staff would like to talk with you now. Please go to the desk or tell a member of staff. You can finish the questions afterwards.',
    ok: 'OK',
    idleTitle: 'Are you still there?',
    idleText: 'For your privacy, this form will close in',
    seconds: 'seconds',
    stillHere: 'I am still here',
    formFor: (n) => `Questions for ${n}`,
    progress: (a, b) => `Part ${a} of ${b}`,
    problems: 'Please check these answers',
    noCode: 'Please type the code.',
    unit: 'Unit',
    badCode:
      'This code does not work. It may have been used already or be too old. Please ask the staff for a new one.',
    tooMany: 'Too many attempts. Please ask the staff for help.',
    noNetwork: 'The tablet cannot connect right now. Please ask the staff for help.',
    waiting: 'Answers waiting to be sent: 1',
    lostTitle: 'These answers could not be sent',
    lostText:
      'The session on this tablet ended before the answers reached the clinic, so they were not saved. Please tell the staff: the questions need to be answered again.',
    required: 'needs an answer.',
    ageCheckTitle: 'Please check your age',
    ageCheckText: (n) =>
      `You wrote that you are ${n} years old. That is different from the age in your clinic record. Is ${n} right?`,
    ageCheckYes: (n) => `Yes, I am ${n}`,
    ageCheckChange: 'Change my age',
  },
  es: {
    brand: 'Preguntas sobre el dolor de espalda',
    welcome: 'Bienvenida',
    enterCode: 'Escriba el código que le dio el personal.',
    code: 'Código',
    start: 'Empezar',
    back: 'Atrás',
    next: 'Siguiente',
    send: 'Enviar mis respuestas',
    thanks: 'Gracias',
    handBack: 'Por favor, devuelva la tableta al personal.',
    queued: 'Sus respuestas están guardadas en esta tableta y se enviarán en cuanto vuelva la conexión.',
    tellStaffTitle: 'Por favor, avise al personal ahora',
    tellStaffText:
      'Algunas de sus respuestas indican que una persona del personal quiere hablar con usted ahora. Vaya al mostrador o avise a alguien del personal. Puede terminar las preguntas después.',
    ok: 'De acuerdo',
    idleTitle: '¿Sigue ahí?',
    idleText: 'Por su privacidad, este formulario se cerrará en',
    seconds: 'segundos',
    stillHere: 'Sigo aquí',
    formFor: (n) => `Preguntas para ${n}`,
    progress: (a, b) => `Parte ${a} de ${b}`,
    problems: 'Por favor, revise estas respuestas',
    noCode: 'Escriba el código.',
    unit: 'Unidad',
    badCode: 'Este código no funciona. Puede que ya se haya usado o que haya caducado. Pida uno nuevo al personal.',
    tooMany: 'Demasiados intentos. Pida ayuda al personal.',
    noNetwork: 'La tableta no puede conectarse ahora. Pida ayuda al personal.',
    waiting: 'Respuestas pendientes de envío: 1',
    lostTitle: 'Estas respuestas no se pudieron enviar',
    lostText:
      'La sesión de esta tableta terminó antes de que las respuestas llegaran a la clínica, así que no se guardaron. Avise al personal: hay que responder las preguntas de nuevo.',
    required: 'necesita una respuesta.',
    ageCheckTitle: 'Por favor, revise su edad',
    ageCheckText: (n) =>
      `Ha escrito que tiene ${n} años. No coincide con la edad de su historia clínica. ¿Es correcto: ${n} años?`,
    ageCheckYes: (n) => `Sí, tengo ${n} años`,
    ageCheckChange: 'Cambiar mi edad',
  },
};

let current = 'en';
export const language = () => current;
export function setLanguage(lang) {
  if (STRINGS[lang]) current = lang;
}
export function t(key, ...args) {
  const v = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return typeof v === 'function' ? v(...args) : v;
}
