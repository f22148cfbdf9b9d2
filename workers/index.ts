export { LocalVectorIndex } from "./objects/local-vector-index";

export default {
  async fetch() {
    return new Response("ok");
  },
} satisfies ExportedHandler<Env>;
