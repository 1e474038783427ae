import { TestBed } from '@angular/core/testing';
import { Router } from '@angular/router';

import { makePost, makeUser } from '../../../testing/fixtures';
import { setUpTestBed, signIn } from '../../../testing/setup';
import { PostDetail } from './post-detail';

describe('PostDetail', () => {
  async function open(id: string, viewer = makeUser({ id: 1 })) {
    const setup = setUpTestBed();
    signIn(setup.http, viewer);
    const fixture = TestBed.createComponent(PostDetail);
    fixture.componentRef.setInput('id', id);
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    const button = (name: string) =>
      [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === name);
    return { ...setup, fixture, element, button };
  }

  it('shows the post with its comments, and adds a comment', async () => {
    const { http, fixture, element, button } = await open('10');
    expect(element.textContent).toContain('Loading post…');
    http.expectOne('/api/posts/10').flush({ post: makePost({ id: 10, comment_count: 1 }) });
    http.expectOne('/api/posts/10/comments').flush({
      items: [{ id: 1, post_id: 10, author: makePost().author, body: 'first', html: '<p>first</p>', created_at: '2026-01-01T10:05:00Z' }],
    });
    await fixture.whenStable();
    expect(element.querySelector('h2')?.textContent).toBe('Comments (1)');
    expect(button('Delete post')).toBeUndefined();

    fixture.componentInstance.draft.set('second @ana');
    await fixture.whenStable();
    button('Comment')!.click();
    const create = http.expectOne('/api/posts/10/comments');
    expect(create.request.method).toBe('POST');
    expect(create.request.body).toEqual({ body: 'second @ana' });
    create.flush(
      { comment: { id: 2, post_id: 10, author: makePost().author, body: 'second @ana', html: '<p>second @ana</p>', created_at: '2026-01-01T10:06:00Z' } },
      { status: 201, statusText: 'Created' },
    );
    await fixture.whenStable();
    expect(element.querySelector('h2')?.textContent).toBe('Comments (2)');
    expect(fixture.componentInstance.draft()).toBe('');
  });

  it('lets the author delete the post, then goes home', async () => {
    const { http, fixture, button } = await open('10', makeUser({ id: 2 }));
    const navigate = vi.spyOn(TestBed.inject(Router), 'navigateByUrl').mockResolvedValue(true);
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    http.expectOne('/api/posts/10').flush({ post: makePost({ id: 10 }) });
    http.expectOne('/api/posts/10/comments').flush({ items: [] });
    await fixture.whenStable();
    button('Delete post')!.click();
    const remove = http.expectOne('/api/posts/10');
    expect(remove.request.method).toBe('DELETE');
    remove.flush(null, { status: 204, statusText: 'No Content' });
    expect(navigate).toHaveBeenCalledWith('/');
  });

  it('says what is wrong with a bad address or a missing post', async () => {
    const bad = await open('abc');
    expect(bad.element.querySelector('[role=alert]')?.textContent).toContain('"abc" is not a post number.');
    bad.http.verify();
    TestBed.resetTestingModule();

    const missing = await open('99');
    missing.http.expectOne('/api/posts/99').flush({ msg: 'post not found' }, { status: 404, statusText: 'x' });
    // forkJoin drops the comments request once the post itself failed.
    expect(missing.http.expectOne('/api/posts/99/comments').cancelled).toBe(true);
    await missing.fixture.whenStable();
    expect(missing.element.querySelector('[role=alert]')?.textContent).toContain('post not found');
  });
});
