import { addedBy, imageSourcesOf, isExempt, optionChecked, readOptions, tagViolations } from "../lib/index.js";

// On UPDATE only the images the update brings are judged (lib/scheduling.js addedBy).
const options = readOptions(get, request, ["disallowed-image-tags", "require-image-digest"]);
const problems = optionChecked(() => (isExempt(request, options) ? [] : tagViolations(request, options, addedBy(request, imageSourcesOf))));
if (problems.length) deny(problems.join("; "));
