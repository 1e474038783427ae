/** Where an @mention being typed starts, and what has been typed after the @. */
export interface MentionQuery {
  start: number;
  query: string;
}

// A mention starts at the beginning of the text or after a non-word character, so that
// e-mail addresses ("ana@example.com") do not open the suggestions.
const mentionBeforeCaret = /(^|[^\w@])@(\w{0,30})$/;

/** Finds the @mention the caret is in, or null when the caret is not in one. */
export function mentionAt(text: string, caret: number): MentionQuery | null {
  const match = mentionBeforeCaret.exec(text.slice(0, caret));
  if (!match) {
    return null;
  }
  const query = match[2];
  return { start: caret - query.length - 1, query };
}

/** Replaces the mention being typed with `@username ` and gives the caret position after it. */
export function completeMention(
  text: string,
  caret: number,
  mention: MentionQuery,
  username: string,
): { text: string; caret: number } {
  const inserted = `@${username} `;
  const after = text.slice(caret).replace(/^\w*/, '');
  return {
    text: text.slice(0, mention.start) + inserted + after,
    caret: mention.start + inserted.length,
  };
}
