import {Badge, Box, Button, Select, Table, TableBody, TableCell, TableHead, TableHeaderCell, TableRow} from '@stripe/ui-extension-sdk/ui';

import type {ApiError, Delivery, DeliveryError, DeliveryStatus} from '../api';
import {formatTime} from '../settingsForm';
import ErrorBanner from './ErrorBanner';
import Section from './Section';

const GOOD: DeliveryStatus[] = ['sent', 'delivered', 'read'];
const WAITING: DeliveryStatus[] = ['queued', 'sending', 'retrying', 'paused', 'ambiguous'];

function statusBadge(status: DeliveryStatus): 'positive' | 'warning' | 'negative' | 'neutral' {
  if (GOOD.includes(status)) return 'positive';
  if (WAITING.includes(status)) return 'warning';
  return status === 'failed' ? 'negative' : 'neutral';
}

/** What went wrong, in Meta's words when Meta refused: "131026: The number is not on WhatsApp." */
export function errorMeaning(error: DeliveryError | null): string {
  if (!error) return '';
  const meaning = typeof error.meaning === 'string' ? error.meaning : '';
  if (error.code !== undefined && meaning) return `${error.code}: ${meaning}`;
  if (meaning) return meaning;
  return error.code !== undefined ? `Meta error ${error.code}` : '';
}

type Props = {
  deliveries: Delivery[] | null;
  error: ApiError | null;
  onlyFailed: boolean;
  onFilter: (onlyFailed: boolean) => void;
  onRefresh: () => void;
};

/** The newest deliveries: phone numbers come masked from the backend and are shown as they come. */
const DeliveriesSection = ({deliveries, error, onlyFailed, onFilter, onRefresh}: Props) => (
  <Section title="Recent deliveries" description="The messages the bridge sent (or did not) for your Stripe events.">
    <Box css={{stack: 'x', gap: 'small', alignY: 'bottom'}}>
      <Select label="Show" name="deliveries_filter" value={onlyFailed ? 'failed' : 'all'} onChange={(e) => onFilter(e.target.value === 'failed')}>
        <option value="all">All deliveries</option>
        <option value="failed">Failed only</option>
      </Select>
      <Button onPress={onRefresh}>Refresh</Button>
    </Box>
    {error ? <ErrorBanner error={error} title="Could not load the deliveries" /> : null}
    {deliveries && deliveries.length === 0 ? <Box css={{color: 'secondary'}}>No deliveries yet.</Box> : null}
    {deliveries && deliveries.length > 0 ? (
      <Table>
        <TableHead>
          <TableRow>
            <TableHeaderCell>When</TableHeaderCell>
            <TableHeaderCell>Event</TableHeaderCell>
            <TableHeaderCell>Mapping</TableHeaderCell>
            <TableHeaderCell>To</TableHeaderCell>
            <TableHeaderCell>Status</TableHeaderCell>
            <TableHeaderCell>Error</TableHeaderCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {deliveries.map((delivery) => (
            <TableRow key={delivery.id}>
              <TableCell>{formatTime(delivery.created_at)}</TableCell>
              <TableCell>{delivery.event_type}</TableCell>
              <TableCell>{delivery.mapping}</TableCell>
              <TableCell>{delivery.phone}</TableCell>
              <TableCell>
                <Badge type={statusBadge(delivery.status)}>{delivery.status}</Badge>
              </TableCell>
              <TableCell wrap>{errorMeaning(delivery.error)}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    ) : null}
  </Section>
);

export default DeliveriesSection;
