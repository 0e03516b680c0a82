import {Box, Table, TableBody, TableCell, TableHead, TableHeaderCell, TableRow, TextArea} from '@stripe/ui-extension-sdk/ui';

import type {ApiError, Mapping} from '../api';
import {languages} from '../settingsForm';
import Section from './Section';

type Props = {
  mappings: Mapping[];
  json: string;
  onChange: (json: string) => void;
  refusal: ApiError | null;
};

/**
 * The saved mappings as a table, and the editor for them: JSON shaped like config.toml's
 * [[mappings]] tables. A refused save shows the backend's findings right under the editor.
 */
const MappingsSection = ({mappings, json, onChange, refusal}: Props) => {
  const findings = refusal?.fieldErrors('mappings') ?? [];
  return (
    <Section
      title="Mappings"
      description="Which Stripe events send which approved WhatsApp template. Saved with the Save button."
    >
      {mappings.length === 0 ? (
        <Box css={{color: 'secondary'}}>No mappings yet: no event sends a message.</Box>
      ) : (
        <Table>
          <TableHead>
            <TableRow>
              <TableHeaderCell>Name</TableHeaderCell>
              <TableHeaderCell>Events</TableHeaderCell>
              <TableHeaderCell>Template</TableHeaderCell>
              <TableHeaderCell>Language</TableHeaderCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {mappings.map((mapping) => (
              <TableRow key={mapping.name}>
                <TableCell>{mapping.name}</TableCell>
                <TableCell>{(mapping.events ?? []).join(', ')}</TableCell>
                <TableCell>{mapping.template}</TableCell>
                <TableCell>{languages(mapping)}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      <TextArea
        label="Mappings (JSON)"
        name="mappings"
        rows={14}
        spellCheck={false}
        value={json}
        invalid={findings.length > 0}
        error={findings.length ? `${findings.length} problem${findings.length === 1 ? '' : 's'}: see below.` : undefined}
        onChange={(e) => onChange(e.target.value)}
      />
      {findings.length ? (
        <Box css={{stack: 'y', gap: 'xsmall'}}>
          {findings.map((finding) => (
            <Box key={finding} css={{color: 'critical', fontFamily: 'monospace', wordBreak: 'break-word'}}>
              {finding}
            </Box>
          ))}
        </Box>
      ) : null}
    </Section>
  );
};

export default MappingsSection;
