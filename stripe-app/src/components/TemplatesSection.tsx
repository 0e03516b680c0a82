import {Badge, Box, Button, Table, TableBody, TableCell, TableHead, TableHeaderCell, TableRow} from '@stripe/ui-extension-sdk/ui';

import type {ApiError, TemplateList} from '../api';
import {formatTime} from '../settingsForm';
import ErrorBanner from './ErrorBanner';
import Section from './Section';

/** Meta's review states: only APPROVED templates can be sent. */
function templateBadge(status: string): 'positive' | 'warning' | 'negative' | 'neutral' {
  if (status === 'APPROVED') return 'positive';
  if (status === 'PENDING' || status === 'IN_APPEAL') return 'warning';
  if (status === 'REJECTED' || status === 'PAUSED' || status === 'DISABLED') return 'negative';
  return 'neutral';
}

type Props = {
  templates: TemplateList | null;
  error: ApiError | null;
  pulling: boolean;
  onPull: () => void;
};

/** The merchant's WhatsApp templates as the bridge last pulled them from Meta, and a pull now. */
const TemplatesSection = ({templates, error, pulling, onPull}: Props) => (
  <Section
    title="Templates"
    description={templates?.pulled_at ? `Pulled from Meta: ${formatTime(templates.pulled_at)}` : 'Not pulled from Meta yet.'}
  >
    <Box>
      <Button onPress={onPull} disabled={pulling}>
        {pulling ? 'Pulling…' : 'Pull from Meta'}
      </Button>
    </Box>
    {error ? <ErrorBanner error={error} title="Could not load the templates" /> : null}
    {templates && templates.templates.length === 0 ? (
      <Box css={{color: 'secondary'}}>No templates yet. Create them in WhatsApp Manager, then pull them here.</Box>
    ) : null}
    {templates && templates.templates.length > 0 ? (
      <Table>
        <TableHead>
          <TableRow>
            <TableHeaderCell>Name</TableHeaderCell>
            <TableHeaderCell>Language</TableHeaderCell>
            <TableHeaderCell>Status</TableHeaderCell>
            <TableHeaderCell>Category</TableHeaderCell>
            <TableHeaderCell>Placeholders</TableHeaderCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {templates.templates.map((template) => (
            <TableRow key={`${template.name}/${template.language}`}>
              <TableCell>{template.name}</TableCell>
              <TableCell>{template.language}</TableCell>
              <TableCell>
                <Badge type={templateBadge(template.status)}>{template.status}</Badge>
              </TableCell>
              <TableCell>{template.category}</TableCell>
              <TableCell>{template.placeholders.map((p) => `{{${p}}}`).join(' ')}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    ) : null}
  </Section>
);

export default TemplatesSection;
