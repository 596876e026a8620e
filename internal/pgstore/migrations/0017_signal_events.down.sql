DROP TABLE signal_events;
