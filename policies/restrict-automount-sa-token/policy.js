import { isExempt, namespaceOf, optionChecked, readOptions, tokenMountViolation } from "../lib/index.js";

const options = readOptions(get, request, ["allow-automount-sa-token"]);
// "smart": a ServiceAccount created a moment ago may not be in the cache yet.
const serviceAccount = (name) => get("ServiceAccount", "v1", `${namespaceOf(request)}/${name}`, { cache: "smart" });
let found = {};
const problems = optionChecked(() => {
  if (isExempt(request, options)) return [];
  found = tokenMountViolation(request, options, serviceAccount);
  return found.denial ? [found.denial] : [];
});
if (found.warning) warn(found.warning);
if (problems.length) deny(problems.join("; "));
