import { completeMention, mentionAt } from './mention';

describe('mentionAt', () => {
  it('finds the mention the caret is in', () => {
    expect(mentionAt('hi @al', 6)).toEqual({ start: 3, query: 'al' });
    expect(mentionAt('@bo', 3)).toEqual({ start: 0, query: 'bo' });
  });

  it('opens on a bare @ with an empty query', () => {
    expect(mentionAt('hello @', 7)).toEqual({ start: 6, query: '' });
  });

  it('ignores e-mail addresses, finished mentions and text after the caret', () => {
    expect(mentionAt('mail ana@example', 16)).toBeNull();
    expect(mentionAt('@ana done', 9)).toBeNull();
    expect(mentionAt('x @ana', 1)).toBeNull();
  });
});

describe('completeMention', () => {
  it('replaces the partial name and the rest of that word, and moves the caret after the space', () => {
    const text = 'hi @alwhatever there';
    expect(completeMention(text, 6, { start: 3, query: 'al' }, 'alice')).toEqual({
      text: 'hi @alice  there',
      caret: 10,
    });
  });

  it('completes at the end of the text', () => {
    expect(completeMention('@b', 2, { start: 0, query: 'b' }, 'bob')).toEqual({ text: '@bob ', caret: 5 });
  });
});
