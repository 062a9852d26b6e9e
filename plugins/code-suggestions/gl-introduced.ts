import {
  Kind,
  NoUnusedFragmentsRule,
  NoUnusedVariablesRule,
  specifiedRules,
  type ASTNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  type InlineFragmentNode,
  type SelectionNode,
  type SelectionSetNode,
  type ValidationRule,
  type ValueNode,
} from 'graphql';

/**
 * GitLab's `@gl_introduced` directive, declared as GitLab's schema does. Clients tag the fields of
 * newer GitLab versions with it, so one query works against every version.
 */
export const GL_INTRODUCED_SDL = /* GraphQL */ `
  "Marks a field as introduced in a specific version. Fields with a version higher than the current one will return null."
  directive @gl_introduced("The version when this field was introduced (e.g. '18.1.0')" version: String!) on FIELD | INLINE_FRAGMENT
`;

const DIRECTIVE = 'gl_introduced';
/** The leading `X.Y.Z` of a version, as `Gitlab::VersionInfo.parse` reads it (`18.1.0-pre` is 18.1.0). */
const VERSION = /^(\d+)\.(\d+)\.(\d+)/;

/** A document with the fields of versions after this one set aside, and how to put their nulls back. */
export interface FilteredDocument {
  /** What is validated and executed: every future field is a `__typename` under its response key. */
  document: DocumentNode;
  /** The validation rules, which let pass the variables and fragments only future fields used. */
  rules: readonly ValidationRule[];
  /** Sets every future field of an execution's `data` to null. */
  nullFutureFields(data: Record<string, unknown> | null | undefined, operationName?: string): void;
}

function parseVersion(version: string): number[] | undefined {
  const match = VERSION.exec(version.trim());
  return match ? match.slice(1).map(Number) : undefined;
}

/** -1, 0 or 1 as `a` is older than, equal to or newer than `b` (major, minor, patch). */
function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/**
 * Applies GitLab's rule for `@gl_introduced(version:)`: a field (or inline fragment) introduced after
 * `currentVersion` answers null. GitLab removes such nodes before validation, so a field this schema
 * does not have yet is no error; here each becomes `__typename` under the same response key (so
 * selection sets never end up empty and the answer keeps its key order), and its value is replaced by
 * null after execution. A version that is not a string literal `X.Y.Z…` leaves the node as it is, as
 * in GitLab. Variables and fragments used only under removed nodes are not reported as unused.
 */
export function filterFutureFields(source: DocumentNode, currentVersion: string): FilteredDocument {
  const current = parseVersion(currentVersion);
  const fragments = new Map(
    source.definitions.filter((definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  const placeholders = new WeakSet<FieldNode>();
  const hiddenVariables = new Set<string>();
  const hiddenFragments = new Set<string>();

  const isFuture = (node: FieldNode | InlineFragmentNode): boolean => {
    const argument = node.directives?.find((directive) => directive.name.value === DIRECTIVE)?.arguments?.find((a) => a.name.value === 'version');
    if (!current || argument?.value.kind !== Kind.STRING) return false;
    const introduced = parseVersion(argument.value.value);
    return introduced !== undefined && compareVersions(introduced, current) > 0;
  };

  const placeholder = (key: string, node: ASTNode): FieldNode => {
    const field: FieldNode = { kind: Kind.FIELD, alias: { kind: Kind.NAME, value: key }, name: { kind: Kind.NAME, value: '__typename' }, loc: node.loc };
    placeholders.add(field);
    return field;
  };

  // What a removed subtree used: its variables and fragments (and theirs) are not "unused". A fragment
  // is walked once, however many removed subtrees spread it.
  const hide = (node: SelectionSetNode | SelectionNode): void => {
    if (node.kind === Kind.SELECTION_SET) return node.selections.forEach(hide);
    if (node.kind === Kind.FRAGMENT_SPREAD) {
      const name = node.name.value;
      const fragment = fragments.get(name);
      const first = !hiddenFragments.has(name);
      hiddenFragments.add(name);
      if (fragment && first) hide(fragment.selectionSet);
    }
    if (node.kind === Kind.FIELD) node.arguments?.forEach((argument) => hideVariables(argument.value));
    node.directives?.forEach((directive) => directive.arguments?.forEach((argument) => hideVariables(argument.value)));
    if (node.kind !== Kind.FRAGMENT_SPREAD && node.selectionSet) hide(node.selectionSet);
  };
  const hideVariables = (value: ValueNode): void => {
    if (value.kind === Kind.VARIABLE) hiddenVariables.add(value.name.value);
    else if (value.kind === Kind.LIST) value.values.forEach(hideVariables);
    else if (value.kind === Kind.OBJECT) value.fields.forEach((field) => hideVariables(field.value));
  };

  // The response keys a removed inline fragment would have answered with.
  const responseKeys = (set: SelectionSetNode, keys = new Set<string>(), seen = new Set<string>()): Set<string> => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) keys.add(selection.alias?.value ?? selection.name.value);
      else if (selection.kind === Kind.INLINE_FRAGMENT) responseKeys(selection.selectionSet, keys, seen);
      else if (!seen.has(selection.name.value)) {
        const fragment = fragments.get(selection.name.value);
        if (fragment) responseKeys(fragment.selectionSet, keys, seen.add(selection.name.value));
      }
    }
    return keys;
  };

  const rewriteSet = (set: SelectionSetNode): SelectionSetNode => ({ ...set, selections: set.selections.flatMap(rewrite) });
  const rewrite = (selection: SelectionNode): SelectionNode[] => {
    if (selection.kind === Kind.FIELD) {
      if (isFuture(selection)) {
        hide(selection);
        return [placeholder(selection.alias?.value ?? selection.name.value, selection)];
      }
      return [selection.selectionSet ? { ...selection, selectionSet: rewriteSet(selection.selectionSet) } : selection];
    }
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (isFuture(selection)) {
        hide(selection);
        // Its type condition may name a type this schema lacks: the fields are nulled wherever they land.
        return [...responseKeys(selection.selectionSet)].map((key) => placeholder(key, selection));
      }
      return [{ ...selection, selectionSet: rewriteSet(selection.selectionSet) }];
    }
    return [selection];
  };

  const document: DocumentNode = {
    ...source,
    definitions: source.definitions.map((definition) =>
      definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION
        ? { ...definition, selectionSet: rewriteSet(definition.selectionSet) }
        : definition,
    ),
  };
  const rewritten = new Map(
    document.definitions.filter((definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );

  const hidden = (error: GraphQLError) =>
    !!error.nodes?.length &&
    error.nodes.every(
      (node) =>
        (node.kind === Kind.VARIABLE_DEFINITION && hiddenVariables.has(node.variable.name.value)) ||
        (node.kind === Kind.FRAGMENT_DEFINITION && hiddenFragments.has(node.name.value)),
    );
  const rules =
    hiddenVariables.size || hiddenFragments.size
      ? specifiedRules.map((rule) => (rule === NoUnusedVariablesRule || rule === NoUnusedFragmentsRule ? tolerating(rule, hidden) : rule))
      : specifiedRules;

  // Whether a selection set holds a placeholder, itself or below (through fragments too); a fragment
  // that closes a cycle counts as none while its own answer is pending.
  const holdsFuture = new Map<SelectionSetNode, boolean>();
  const hasFuture = (set: SelectionSetNode): boolean => {
    const known = holdsFuture.get(set);
    if (known !== undefined) return known;
    holdsFuture.set(set, false);
    const found = set.selections.some((selection) => {
      if (selection.kind === Kind.FIELD) return placeholders.has(selection) || (!!selection.selectionSet && hasFuture(selection.selectionSet));
      if (selection.kind === Kind.INLINE_FRAGMENT) return hasFuture(selection.selectionSet);
      const fragment = rewritten.get(selection.name.value);
      return !!fragment && hasFuture(fragment.selectionSet);
    });
    holdsFuture.set(set, found);
    return found;
  };

  // Walks the answer along the document, never the expanded query: subtrees without a placeholder are
  // skipped, and each object is walked once per selection set however often fragments bring it back,
  // so the work is bounded by the document's size times the answer's.
  const nullify = (value: unknown, set: SelectionSetNode, walked: WeakMap<object, Set<SelectionSetNode>>): void => {
    if (value === null || typeof value !== 'object' || !hasFuture(set)) return;
    if (Array.isArray(value)) return value.forEach((item) => nullify(item, set, walked));
    const sets = walked.get(value) ?? new Set<SelectionSetNode>();
    if (sets.has(set)) return;
    walked.set(value, sets.add(set));
    const object = value as Record<string, unknown>;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        if (!(key in object)) continue;
        if (placeholders.has(selection)) object[key] = null;
        else if (selection.selectionSet) nullify(object[key], selection.selectionSet, walked);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        nullify(object, selection.selectionSet, walked);
      } else {
        const fragment = rewritten.get(selection.name.value);
        if (fragment) nullify(object, fragment.selectionSet, walked);
      }
    }
  };

  return {
    document,
    rules,
    nullFutureFields(data, operationName) {
      if (!data) return;
      const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
      const operation = operationName === undefined ? operations[0] : operations.find((definition) => definition.name?.value === operationName);
      if (operation) nullify(data, operation.selectionSet, new WeakMap());
    },
  };
}

/** A validation rule whose errors matching `ignored` are dropped. */
function tolerating(rule: ValidationRule, ignored: (error: GraphQLError) => boolean): ValidationRule {
  return (context) =>
    rule(
      Object.create(context, {
        reportError: { value: (error: GraphQLError) => (ignored(error) ? undefined : context.reportError(error)) },
      }),
    );
}
