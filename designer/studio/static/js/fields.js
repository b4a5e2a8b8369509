// Field types as the studio shows them: the palette in the page lists every type with its
// translated name, and the property panel and preview ask here which options a type has.

/** Translated type names, read from the palette buttons the template renders (one source of names). */
export function typeLabels() {
  const out = {};
  document.querySelectorAll("[data-field-type]").forEach((b) => { out[b.dataset.fieldType] = b.dataset.label || b.textContent.trim(); });
  return out;
}

export const NUMERIC = new Set(["integer", "number", "money", "percent"]);
export const WITH_OPTIONS = new Set(["select", "multiselect"]);
export const NO_UNIQUE = new Set(["boolean", "autonumber", "multiselect", "textarea"]);

/** The type-specific properties of `type`, as [property, input kind]. */
export function typeProps(type) {
  const props = [];
  if (type === "text") props.push(["max_length", "int"], ["pattern", "text"]);
  if (type === "textarea") props.push(["max_length", "int"]);
  if (NUMERIC.has(type)) props.push(["min", "num"], ["max", "num"]);
  if (type === "number" || type === "percent") props.push(["decimals", "int"]);
  if (type === "money") props.push(["currency", "text"]);
  if (type === "autonumber") props.push(["format", "text"]);
  return props;
}

/** What a new field of `type` starts with besides key, type and label. */
export function starter(type, optionLabel) {
  if (WITH_OPTIONS.has(type)) return {options: [optionLabel(1), optionLabel(2)]};
  if (type === "autonumber") return {format: "NO-{seq:5}"};
  return {};
}

/** A literal typed into a property box, as the YAML value: numbers become numbers, "" means unset. */
export function literal(kind, text) {
  const s = String(text).trim();
  if (s === "") return undefined;
  if (kind === "num" || kind === "int") {
    const n = Number(s.replace(/[,，_]/g, ""));
    return Number.isFinite(n) && (kind === "num" || Number.isInteger(n)) ? n : s;  // a bad number reaches the checker, which locates it
  }
  return s;
}

/** The text of an option, whether written as a plain value or as {value, label}. */
export function optionText(o) {
  return o !== null && typeof o === "object" ? (o.label || o.value || "") : String(o);
}
