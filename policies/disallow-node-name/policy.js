import { isExempt, nodeNameViolations, optionChecked, readOptions } from "../lib/index.js";

const options = readOptions(get, request, ["allow-node-name"]);
const problems = optionChecked(() => (isExempt(request, options) ? [] : nodeNameViolations(request, options)));
if (problems.length) deny(problems.join("; "));
