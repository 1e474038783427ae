import { TestBed } from '@angular/core/testing';

import { makeUser } from '../../../testing/fixtures';
import { setUpTestBed } from '../../../testing/setup';
import { MentionTextarea } from './mention-textarea';

describe('MentionTextarea', () => {
  async function typeMention() {
    const { http } = setUpTestBed();
    const fixture = TestBed.createComponent(MentionTextarea);
    fixture.componentRef.setInput('label', 'Body');
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    const area = element.querySelector('textarea')!;
    area.value = 'hi @an';
    area.setSelectionRange(6, 6);
    area.dispatchEvent(new Event('input'));
    // The search waits for a pause in typing, so the request shows up a little later.
    const search = await vi.waitFor(() => http.expectOne('/api/users?q=an'));
    search.flush({
      items: [makeUser({ id: 1, username: 'ana' }), makeUser({ id: 2, username: 'andy', display_name: 'Andy' })],
    });
    await fixture.whenStable();
    return { fixture, element, area, http };
  }

  it('is a labelled combobox that lists matching users', async () => {
    const { element, area } = await typeMention();
    expect(element.querySelector(`label[for="${area.id}"]`)?.textContent).toBe('Body');
    expect(area.getAttribute('aria-expanded')).toBe('true');
    const options = [...element.querySelectorAll('[role=option]')];
    expect(options.map((option) => option.textContent?.trim())).toEqual(['Ana @ana', 'Andy @andy']);
    expect(area.getAttribute('aria-activedescendant')).toBe(options[0].id);
  });

  it('moves with the arrow keys and completes with Enter', async () => {
    const { fixture, element, area } = await typeMention();
    area.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', cancelable: true }));
    await fixture.whenStable();
    expect(element.querySelectorAll('[role=option]')[1].getAttribute('aria-selected')).toBe('true');
    const enter = new KeyboardEvent('keydown', { key: 'Enter', cancelable: true });
    area.dispatchEvent(enter);
    await fixture.whenStable();
    expect(enter.defaultPrevented).toBe(true);
    expect(fixture.componentInstance.value()).toBe('hi @andy ');
    expect(area.selectionStart).toBe(9);
    expect(area.getAttribute('aria-expanded')).toBe('false');
  });

  it('closes on Escape and leaves the text alone', async () => {
    const { fixture, area } = await typeMention();
    area.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', cancelable: true }));
    await fixture.whenStable();
    expect(area.getAttribute('aria-expanded')).toBe('false');
    expect(fixture.componentInstance.value()).toBe('hi @an');
  });
});
