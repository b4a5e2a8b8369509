// Form sections (a field's `section:`, a tierwise extension): consecutive fields with the same
// section form one headed group; fields without one belong to no group. The same rule as
// engine/bundle.py ObjectDef.sections, so the builder, its preview and the rep's form agree.

/** [{section: text | null, items: [{field, index}]}] of the draft's field list, in order. */
export function groups(fields) {
  const out = [];
  (fields || []).forEach((field, index) => {
    const section = sectionOf(field);
    const last = out[out.length - 1];
    if (last && last.section === section) last.items.push({field, index});
    else out.push({section, items: [{field, index}]});
  });
  return out;
}

/** The section a field is in, or null. */
export function sectionOf(field) {
  return field && typeof field.section === "string" && field.section.trim() ? field.section : null;
}

/** Every section name used by the fields, once each, in order of first use. */
export function sectionNames(fields) {
  return [...new Set((fields || []).map(sectionOf).filter((s) => s !== null))];
}

/** The index a field of `section` should move to from `from`: just after the section's last field
 *  (so the group stays whole), or, for no section, just after the end of the field's own group. */
export function targetIndex(fields, from, section) {
  const list = fields || [];
  const rest = list.filter((_, i) => i !== from);  // the list as it is once the field is taken out
  let at = -1;
  if (section !== null) {
    rest.forEach((f, i) => { if (sectionOf(f) === section) at = i; });
    return at < 0 ? rest.length : at + 1;
  }
  const own = sectionOf(list[from]);
  if (own === null) return from;
  at = from;
  while (at < rest.length && sectionOf(rest[at]) === own) at++;
  return at;
}
