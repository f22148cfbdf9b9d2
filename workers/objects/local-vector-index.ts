import { DurableObject } from "cloudflare:workers";

export class LocalVectorIndex extends DurableObject<Env> {}
