import { isExempt, optionChecked, priorityClassViolations, readOptions } from "../lib/index.js";

const options = readOptions(get, request, ["allowed-priority-classes"]);
const priorityClasses = () => list("PriorityClass", "scheduling.k8s.io/v1") || [];
const problems = optionChecked(() => (isExempt(request, options) ? [] : priorityClassViolations(request, options, priorityClasses)));
if (problems.length) deny(problems.join("; "));
