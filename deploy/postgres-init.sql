CREATE DATABASE platform OWNER cronkit;
