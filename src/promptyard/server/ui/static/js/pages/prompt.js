import { guarded } from "../dom.js";

guarded(async () => {});
