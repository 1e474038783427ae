import { renderMarkdown } from './markdown';

describe('renderMarkdown', () => {
  it('renders emphasis, links and line breaks', () => {
    const html = renderMarkdown('**bold** and [a link](https://example.test)\nnext line');
    expect(html).toContain('<strong>bold</strong>');
    expect(html).toContain('<a href="https://example.test">a link</a>');
    expect(html).toContain('<br>');
  });

  it('drops scripts, event handlers and javascript: links', () => {
    const html = renderMarkdown(
      '<script>alert(1)</script><img src="x" onerror="alert(2)">\n\n[x](javascript:alert(3))',
    );
    expect(html).toContain('<a>x</a>');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('onerror');
    expect(html).not.toContain('href="javascript:');
  });
});
