import DOMPurify from 'dompurify';
import { marked } from 'marked';

/**
 * Renders the compose preview. The server renders and sanitises the stored `html` itself;
 * this only has to look the same while typing, and must never run what was typed.
 */
export function renderMarkdown(source: string): string {
  const html = marked.parse(source, { async: false, gfm: true, breaks: true });
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}
