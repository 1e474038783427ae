import {
  ChangeDetectionStrategy,
  Component,
  DestroyRef,
  ElementRef,
  inject,
  input,
  model,
  signal,
  viewChild,
} from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { Subject, catchError, debounceTime, distinctUntilChanged, of, switchMap } from 'rxjs';

import { Api } from '../../core/api';
import { UserLite } from '../../core/api-types';
import { MentionQuery, completeMention, mentionAt } from '../../core/mention';

let nextId = 0;

/**
 * A labelled textarea that suggests usernames after "@" (ARIA combobox pattern):
 * arrows move through the suggestions, Enter or Tab picks one, Escape closes the list.
 */
@Component({
  selector: 'app-mention-textarea',
  changeDetection: ChangeDetectionStrategy.OnPush,
  templateUrl: './mention-textarea.html',
  styleUrl: './mention-textarea.css',
})
export class MentionTextarea {
  private readonly api = inject(Api);
  private readonly textarea = viewChild.required<ElementRef<HTMLTextAreaElement>>('field');
  private readonly queries = new Subject<string>();
  private mention: MentionQuery | null = null;

  readonly label = input.required<string>();
  readonly placeholder = input('');
  readonly rows = input(4);
  readonly maxLength = input(5000);
  readonly describedBy = input<string | null>(null);
  readonly value = model('');

  readonly fieldId = `mention-field-${nextId}`;
  readonly listId = `mention-list-${nextId++}`;
  readonly suggestions = signal<UserLite[]>([]);
  readonly active = signal(0);

  constructor() {
    this.queries
      .pipe(
        debounceTime(150),
        distinctUntilChanged(),
        switchMap((query) =>
          query ? this.api.searchUsers(query).pipe(catchError(() => of([] as UserLite[]))) : of([]),
        ),
        takeUntilDestroyed(inject(DestroyRef)),
      )
      .subscribe((users) => {
        this.suggestions.set(this.mention ? users : []);
        this.active.set(0);
      });
  }

  optionId(index: number): string {
    return `${this.listId}-${index}`;
  }

  onInput(field: HTMLTextAreaElement): void {
    this.value.set(field.value);
    this.mention = mentionAt(field.value, field.selectionStart);
    if (this.mention) {
      this.queries.next(this.mention.query);
    } else {
      this.close();
    }
  }

  onKeydown(event: KeyboardEvent): void {
    const count = this.suggestions().length;
    if (count === 0) {
      return;
    }
    switch (event.key) {
      case 'ArrowDown':
        this.active.update((index) => (index + 1) % count);
        break;
      case 'ArrowUp':
        this.active.update((index) => (index - 1 + count) % count);
        break;
      case 'Enter':
      case 'Tab':
        this.choose(this.suggestions()[this.active()]);
        break;
      case 'Escape':
        this.close();
        break;
      default:
        return;
    }
    event.preventDefault();
  }

  choose(user: UserLite): void {
    const field = this.textarea().nativeElement;
    if (!this.mention) {
      return;
    }
    const completed = completeMention(field.value, field.selectionStart, this.mention, user.username);
    this.value.set(completed.text);
    field.value = completed.text;
    field.focus();
    field.setSelectionRange(completed.caret, completed.caret);
    this.close();
  }

  close(): void {
    this.mention = null;
    this.queries.next('');
    this.suggestions.set([]);
  }
}
