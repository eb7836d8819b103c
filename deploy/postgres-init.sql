-- A second database for Prefect's own state; watcher's lives in "watcher".
CREATE DATABASE prefect;
