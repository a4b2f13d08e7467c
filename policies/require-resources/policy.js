import { isExempt, optionChecked, readOptions, resourceViolations } from "../lib/index.js";

const options = readOptions(get, request, ["required-resources", "max-cpu-request", "max-memory-request", "max-cpu-limit", "max-memory-limit"]);
const problems = optionChecked(() => (isExempt(request, options) ? [] : resourceViolations(request, options)));
if (problems.length) deny(problems.join("; "));
