// The converted text of one document, refused once past the parsed-text bound: a converter
// stops there instead of building a string the parser would refuse anyway.
import { limitExceeded } from "../limits";

export class TextSink {
  private readonly parts: string[] = [];
  private length = 0;

  constructor(private readonly maxBytes: number) {}

  add(text: string): void {
    // UTF-16 units: at most the UTF-8 bytes, so this never refuses text within the bound.
    this.length += text.length;
    if (this.length > this.maxBytes) {
      throw limitExceeded("MAX_PARSED_TEXT_BYTES", this.maxBytes, "converted text");
    }
    this.parts.push(text);
  }

  text(): string {
    return this.parts.join("");
  }
}
