import { isExempt, namespaceOf, optionChecked, ownerLabels, readOptions } from "../lib/index.js";

// Mutating: labels an object lacks are copied from its Namespace; one created where neither has them is refused.
const options = readOptions(get, request, ["owner-labels"]);
let found = {};
const problems = optionChecked(() => {
  if (isExempt(request, options)) return [];
  found = ownerLabels(request, options, get("Namespace", "v1", namespaceOf(request)));
  return found.denial ? [found.denial] : [];
});
if (problems.length) deny(problems.join("; "));
if (found.object) mutate(found.object);
