import { addedBy, imageSourcesOf, isExempt, optionChecked, readOptions, registryViolations } from "../lib/index.js";

// On UPDATE only the images the update brings are judged (lib/scheduling.js addedBy).
const options = readOptions(get, request, ["allowed-registries"]);
const problems = optionChecked(() => (isExempt(request, options) ? [] : registryViolations(request, options, addedBy(request, imageSourcesOf))));
if (problems.length) deny(problems.join("; "));
