// A queue that keeps what is sent to it, for tests that read the messages a write produces.
import type { IngestMessage } from "../../src/ingest/messages";

export class HeldQueue {
  readonly held: IngestMessage[] = [];
  async send(body: IngestMessage): Promise<void> {
    this.held.push(body);
  }
  async sendBatch(messages: Iterable<MessageSendRequest<IngestMessage>>): Promise<void> {
    for (const m of messages) this.held.push(m.body);
  }
  /** What was sent since the last call. */
  take(): IngestMessage[] {
    return this.held.splice(0);
  }
}
