import { addedBy, imageSourcesOf, isExempt, optionChecked, pullPolicyViolations, readOptions } from "../lib/index.js";

// On UPDATE only the images and pull policies the update brings are judged (lib/scheduling.js addedBy).
const options = readOptions(get, request, ["allow-cached-images"]);
const problems = optionChecked(() => (isExempt(request, options) ? [] : pullPolicyViolations(request, options, addedBy(request, imageSourcesOf))));
if (problems.length) deny(problems.join("; "));
