import { TestBed } from '@angular/core/testing';

import { setUpTestBed } from '../../../testing/setup';
import { makePost } from '../../../testing/fixtures';
import { Post } from '../../core/api-types';
import { Compose } from './compose';

function pngFile(name: string, size: number, type = 'image/png'): File {
  return new File([new Uint8Array(size)], name, { type });
}

/** Puts `file` in the file input the way a person picking it would. */
function pick(element: HTMLElement, file: File): void {
  const input = element.querySelector<HTMLInputElement>('input[type=file]')!;
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event('change'));
}

async function setUp() {
  const { http } = setUpTestBed();
  const fixture = TestBed.createComponent(Compose);
  const posted: Post[] = [];
  fixture.componentInstance.posted.subscribe((post) => posted.push(post));
  await fixture.whenStable();
  const element = fixture.nativeElement as HTMLElement;
  const type = async (text: string) => {
    const area = element.querySelector('textarea')!;
    area.value = text;
    area.dispatchEvent(new Event('input'));
    await fixture.whenStable();
  };
  const submit = async () => {
    element.querySelector<HTMLButtonElement>('button[type=submit]')!.click();
    await fixture.whenStable();
  };
  return { http, fixture, element, posted, type, submit };
}

describe('Compose', () => {
  it('labels the editor and the file input', async () => {
    const { element } = await setUp();
    const area = element.querySelector('textarea')!;
    expect(element.querySelector(`label[for="${area.id}"]`)?.textContent).toContain("What's happening?");
    expect(element.querySelector('label[for="compose-image"]')?.textContent).toContain('up to 4 MB');
  });

  it('keeps Post disabled until there is text', async () => {
    const { element, type } = await setUp();
    const button = element.querySelector<HTMLButtonElement>('button[type=submit]')!;
    expect(button.disabled).toBe(true);
    await type('   ');
    expect(button.disabled).toBe(true);
    await type('hi');
    expect(button.disabled).toBe(false);
  });

  it('previews the markdown, sanitised', async () => {
    const { element, fixture, type } = await setUp();
    await type('**loud** <img src=x onerror="alert(1)">');
    [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Preview')!.click();
    await fixture.whenStable();
    const preview = element.querySelector('.preview')!;
    expect(preview.querySelector('strong')?.textContent).toBe('loud');
    expect(preview.innerHTML).not.toContain('onerror');
  });

  it('refuses an image over 4 MB before sending anything', async () => {
    const { element, fixture, http } = await setUp();
    pick(element, pngFile('big.png', 4 * 1024 * 1024 + 1));
    await fixture.whenStable();
    expect(element.querySelector('[role=alert]')?.textContent).toContain('images may be at most 4 MB');
    expect(element.querySelector<HTMLInputElement>('#compose-image')!.getAttribute('aria-invalid')).toBe('true');
    expect(fixture.componentInstance.image()).toBeNull();
    http.verify();
  });

  it('uploads the image, then creates the post with its URL', async () => {
    const { element, fixture, http, type, submit, posted } = await setUp();
    await type('with a picture');
    pick(element, pngFile('drop.png', 1000));
    await fixture.whenStable();
    expect(element.textContent).toContain('Attached: drop.png');
    await submit();

    const upload = http.expectOne('/api/uploads');
    expect(upload.request.body).toBeInstanceOf(FormData);
    expect((upload.request.body as FormData).get('file')).toBeInstanceOf(File);
    upload.flush({ url: '/static/uploads/abc.png' }, { status: 201, statusText: 'Created' });
    const create = http.expectOne('/api/posts');
    expect(create.request.body).toEqual({ body: 'with a picture', image_url: '/static/uploads/abc.png' });
    const post = makePost({ id: 5, image_url: '/static/uploads/abc.png' });
    create.flush({ post }, { status: 201, statusText: 'Created' });
    await fixture.whenStable();

    expect(posted).toEqual([post]);
    expect(fixture.componentInstance.body()).toBe('');
    expect(fixture.componentInstance.image()).toBeNull();
  });

  it("shows the server's 413 message and keeps the draft", async () => {
    const { element, fixture, http, type, submit, posted } = await setUp();
    await type('draft stays');
    pick(element, pngFile('drop.png', 1000));
    await submit();
    http
      .expectOne('/api/uploads')
      .flush({ msg: 'upload is larger than 4 MB' }, { status: 413, statusText: 'Payload Too Large' });
    await fixture.whenStable();
    expect(element.querySelector('[role=alert]')?.textContent?.trim()).toBe('upload is larger than 4 MB');
    expect(fixture.componentInstance.body()).toBe('draft stays');
    expect(posted).toEqual([]);
  });

  it("shows the server's validation message", async () => {
    const { element, fixture, http, type, submit } = await setUp();
    await type('x');
    await submit();
    http.expectOne('/api/posts').flush({ msg: 'body must be at most 5000 characters' }, { status: 400, statusText: 'Bad Request' });
    await fixture.whenStable();
    expect(element.querySelector('[role=alert]')?.textContent?.trim()).toBe('body must be at most 5000 characters');
  });
});
