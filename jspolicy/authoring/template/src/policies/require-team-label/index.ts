// Validating: every Pod and Deployment needs a non-empty "team" label.
import { describe, missingLabels } from "../../lib/labels";

const REQUIRED = ["team"];

const object = request.object;
if (object) {
  const missing = missingLabels(object, REQUIRED);
  if (missing.length > 0) {
    deny(`${describe(object)} must have the label(s) ${missing.join(", ")}`, "MissingLabel", 403);
  }
  const team = object.metadata?.labels?.team ?? "";
  if (team !== team.toLowerCase()) {
    warn(`team label "${team}" should be lowercase`);
  }
}
allow();
